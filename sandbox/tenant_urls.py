"""URLconf for everything under /t/<slug>/ (set by tenants.middleware.TenantPathMiddleware)."""

from django.urls import include, path, re_path

from sandbox.attribution.dashboard import provider_portal
from sandbox.fhirstore import urls as fhirstore_urls
from sandbox.fhirstore.views import SystemView
from sandbox.oauth.views import smart_configuration
from tenants.views import tenant_home

urlpatterns = [
    path("", tenant_home, name="tenant-home"),
    path("fhir/.well-known/smart-configuration", smart_configuration, name="smart-configuration"),
    path("oauth/", include("sandbox.oauth.urls")),
    path("provider/", provider_portal, name="provider-portal"),
    # Attribution answers Group interactions for providers, so it comes before the store. The
    # store's patterns match no `$operation` of the other apps, so they come next: a read, the
    # commonest request, resolves after a handful of patterns. Unknown endpoints come last.
    path("fhir/", include("sandbox.attribution.operation_urls")),
    path("fhir/", include(fhirstore_urls.urlpatterns)),
    path("fhir/", include("sandbox.bulk.operation_urls")),
    path("fhir/", include("sandbox.formulary.operation_urls")),
    path("fhir/", include("sandbox.payer2payer.operation_urls")),
    path("fhir/", include(fhirstore_urls.unknown_urlpatterns)),
    # The base without its slash: a redirect would lose a POSTed batch or transaction body.
    re_path(r"^fhir$", SystemView.as_view()),
    path("bulk/", include("sandbox.bulk.urls")),
]
