"""URLconf for everything under /t/<slug>/ (set by tenants.middleware.TenantPathMiddleware)."""

from django.urls import include, path, re_path

from sandbox.attribution import operation_urls as attribution_urls
from sandbox.attribution.dashboard import provider_portal
from sandbox.bulk import operation_urls as bulk_urls
from sandbox.fhirstore import urls as fhirstore_urls
from sandbox.fhirstore.views import SystemView
from sandbox.formulary import operation_urls as formulary_urls
from sandbox.oauth.views import smart_configuration
from sandbox.payer2payer import operation_urls as payer2payer_urls
from tenants.views import tenant_home

# Every FHIR URL in one flat list, first: Django's resolver tries patterns one by one and pays an
# exception for each include whose prefix does not match, and FHIR requests are most requests.
# Reads and searches come first, but for Group: attribution answers Group interactions for
# providers, so it comes before the store's other patterns. Those match no `$operation` of the
# other apps, which come next. Unknown endpoints come last.
fhir_urlpatterns = [
    *fhirstore_urls.commonest_urlpatterns(attribution_urls.TYPES),
    path(".well-known/smart-configuration", smart_configuration, name="smart-configuration"),
    *attribution_urls.urlpatterns,
    *fhirstore_urls.urlpatterns,
    *bulk_urls.urlpatterns,
    *formulary_urls.urlpatterns,
    *payer2payer_urls.urlpatterns,
    *fhirstore_urls.unknown_urlpatterns,
]

urlpatterns = [
    path("fhir/", include(fhir_urlpatterns)),
    path("", tenant_home, name="tenant-home"),
    path("oauth/", include("sandbox.oauth.urls")),
    path("provider/", provider_portal, name="provider-portal"),
    # The base without its slash: a redirect would lose a POSTed batch or transaction body.
    re_path(r"^fhir$", SystemView.as_view()),
    path("bulk/", include("sandbox.bulk.urls")),
]
