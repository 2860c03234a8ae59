"""URLconf for everything under /t/<slug>/ (set by tenants.middleware.TenantPathMiddleware)."""

from django.urls import include, path

from tenants.views import tenant_home

urlpatterns = [
    path("", tenant_home, name="tenant-home"),
    path("fhir/", include("sandbox.fhirstore.urls")),
]
