from django.views.decorators.csrf import csrf_exempt

from sandbox.fhirstore.outcome import outcome_response


@csrf_exempt
def unknown_endpoint(request):
    return outcome_response(404, "not-found", f"This server has no FHIR endpoint at {request.path}.")
