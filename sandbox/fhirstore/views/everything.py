"""Patient/[id]/$everything over the Patient compartment (FHIR R4 patient-operation-everything)."""

from sandbox.fhirstore.errors import InvalidSearch
from sandbox.fhirstore.everything import everything
from sandbox.fhirstore.indexing import date_range
from sandbox.fhirstore.views.base import FhirView, fhir_base, raw_response


class EverythingView(FhirView):
    def get(self, request, fhir_id):
        return self._run(request, fhir_id, request.GET)

    def post(self, request, fhir_id):
        return self._run(request, fhir_id, request.GET)

    def _run(self, request, fhir_id, params):
        from sandbox.fhirstore.bundles import searchset

        self.authorize(request, "operation", "Patient")
        self.caller.check_visible("Patient", fhir_id)
        since = None
        if params.get("_since"):
            try:
                since = date_range(params["_since"])[0]
            except ValueError:
                raise InvalidSearch(f"_since={params['_since']} is not an instant.", expression="_since") from None
        types = [t for t in params.get("_type", "").split(",") if t]
        try:
            count = int(params["_count"]) if params.get("_count") else None
            cursor = int(params["_cursor"]) if params.get("_cursor") else None
        except ValueError:
            raise InvalidSearch("_count and _cursor must be whole numbers.") from None
        result = everything(
            fhir_id,
            since=since,
            types=types,
            count=count,
            cursor=cursor,
            query=[(k, v) for k, v in params.items() if k != "_cursor"],
            visible=self.caller.visible if self.caller.restriction is not None else None,
        )
        return raw_response(searchset(result, fhir_base(request), f"Patient/{fhir_id}/$everything"))
