"""History: instance, type and system level (FHIR R4 http.html#history)."""

from urllib.parse import urlencode

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import InvalidSearch
from sandbox.fhirstore.indexing import date_range
from sandbox.fhirstore.views.base import FhirView, fhir_base, raw_response


def _history_response(request, resource_type=None, fhir_id=None):
    from django.conf import settings

    from sandbox.fhirstore.bundles import history_bundle

    since = None
    if request.GET.get("_since"):
        try:
            since = date_range(request.GET["_since"])[0]
        except ValueError:
            raise InvalidSearch(f"_since={request.GET['_since']} is not an instant.", expression="_since") from None
    try:
        count = min(int(request.GET.get("_count", settings.FHIR_DEFAULT_PAGE_SIZE)), settings.FHIR_MAX_PAGE_SIZE)
        before = int(request.GET["_before"]) if request.GET.get("_before") else None
    except ValueError:
        raise InvalidSearch("_count and _before must be whole numbers.") from None
    if count < 1:
        raise InvalidSearch("_count must be at least 1 for history.", expression="_count")
    rows, next_before = store.history(resource_type, fhir_id, since=since, before_pk=before, count=count)
    base = fhir_base(request)
    path = "/".join(p for p in (resource_type, fhir_id, "_history") if p)
    params = {k: v for k, v in request.GET.items() if k != "_before"}
    self_url = f"{base}/{path}" + (f"?{urlencode(list(request.GET.items()))}" if request.GET else "")
    next_url = f"{base}/{path}?{urlencode({**params, '_before': next_before})}" if next_before else None
    return raw_response(history_bundle(rows, base, self_url, next_url))


class InstanceHistoryView(FhirView):
    def get(self, request, resource_type, fhir_id):
        store.check_type(resource_type)
        self.authorize(request, "history-instance", resource_type)
        return _history_response(request, resource_type, fhir_id)


class TypeHistoryView(FhirView):
    def get(self, request, resource_type):
        store.check_type(resource_type)
        self.authorize(request, "history-type", resource_type)
        return _history_response(request, resource_type)


class SystemHistoryView(FhirView):
    def get(self, request):
        self.authorize(request, "history-system")
        return _history_response(request)
