"""[base]: batch and transaction bundles; metadata; and the catch-all 404."""

from django.views.decorators.csrf import csrf_exempt

from sandbox.fhirstore import access, bundles
from sandbox.fhirstore.capability import capability_statement
from sandbox.fhirstore.outcome import fhir_response, outcome_response
from sandbox.fhirstore.views.base import FhirView, fhir_base, parse_json, read_body


class SystemView(FhirView):
    """POST [base] with a batch or transaction Bundle."""

    def post(self, request):
        body = parse_json(read_body(request))
        interaction = "transaction" if isinstance(body, dict) and body.get("type") == "transaction" else "batch"
        caller = self.authorize(request, interaction)
        access.authorize_bundle(caller, body)
        return fhir_response(bundles.process(body, fhir_base(request)))


class MetadataView(FhirView):
    """GET [base]/metadata: the CapabilityStatement (public)."""

    def get(self, request):
        self.authorize(request, "capabilities")
        return fhir_response(capability_statement(request.tenant, fhir_base(request)))


@csrf_exempt
def unknown_endpoint(request):
    return outcome_response(404, "not-found", f"This server has no FHIR endpoint at {request.path}.")
