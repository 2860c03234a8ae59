"""
Payer-to-payer FHIR operations under /t/<slug>/fhir/ (HRex $member-match, PDex
$bulk-member-match and its status). Views authenticate, check the operation scope, parse and
call the services in member_match.py and bulk_member_match.py.
"""

from sandbox.fhirstore import access
from sandbox.fhirstore.outcome import fhir_response
from sandbox.fhirstore.views.base import FhirView, parse_json, read_body
from sandbox.payer2payer import member_match
from sandbox.payer2payer.apps import MEMBER_MATCH


def operation_client(caller, scopes, operation):
    """
    The OAuth client calling a payer-to-payer operation, or None for a signed-in member of the
    payer (testing from the dashboard). A token needs one of `scopes` (403 otherwise).
    """
    if caller.kind != "token":
        return None
    granted = set(caller.scope.split())
    if not granted & set(scopes):
        raise access.Forbidden(
            f"The access token's scopes ({caller.scope or 'none'}) do not allow {operation}; "
            f"it needs {sorted(scopes)[0]}."
        )
    return caller.token.application


class MemberMatchView(FhirView):
    """POST [base]/Patient/$member-match (HRex OperationDefinition member-match)."""

    def post(self, request):
        caller = self.authorize(request, "operation", "Patient")
        application = operation_client(caller, {MEMBER_MATCH}, "$member-match")
        body = parse_json(read_body(request))
        try:
            parameters, _warnings = member_match.member_match(request.tenant, body, application)
        except member_match.MatchError as exc:
            return fhir_response(exc.outcome(), status=exc.status)
        return fhir_response(parameters)
