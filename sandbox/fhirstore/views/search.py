"""Search by GET [base]/[type]?... and POST [base]/[type]/_search (FHIR R4 search.html)."""

from urllib.parse import parse_qsl

from sandbox.fhirstore import read_ahead, store
from sandbox.fhirstore.views.base import FhirView, fhir_base, prefer, query_pairs, raw_response, read_body


def search_response(request, resource_type, lists, caller):
    """Run a search for the view layer and answer with a searchset Bundle."""
    from sandbox.fhirstore.bundles import searchset

    pairs = query_pairs(lists)
    strict = prefer(request, "handling") == "strict"
    result = read_ahead.run_search(
        request,
        resource_type,
        pairs,
        strict=strict,
        allowed_types=caller.readable_types(request.tenant),
        visible=caller.visible if caller.restriction is not None else None,
    )
    return raw_response(searchset(result, fhir_base(request), resource_type))


class SearchPostView(FhirView):
    """POST [base]/[type]/_search with a form body (parameters may also be in the URL)."""

    def post(self, request, resource_type):
        store.check_type(resource_type)
        self.authorize(request, "search-type", resource_type)
        body = read_body(request, allow_form=True)
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = []
        lists = list(request.GET.lists()) + [(k, [v]) for k, v in form]
        return search_response(request, resource_type, lists, self.caller)
