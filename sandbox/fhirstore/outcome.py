"""OperationOutcome responses: every FHIR error leaves through here."""

import json

from django.http import HttpResponse

FHIR_JSON = "application/fhir+json"


def operation_outcome(issues):
    """Build an OperationOutcome from (severity, code, diagnostics, expression-or-None) tuples."""
    out = []
    for severity, code, diagnostics, expression in issues:
        issue = {"severity": severity, "code": code, "diagnostics": diagnostics}
        if expression:
            issue["expression"] = [expression] if isinstance(expression, str) else list(expression)
        out.append(issue)
    return {"resourceType": "OperationOutcome", "issue": out}


def outcome_response(status, code, diagnostics, *, expression=None, severity="error", headers=None):
    """One-issue OperationOutcome as an HTTP response."""
    body = operation_outcome([(severity, code, diagnostics, expression)])
    return fhir_response(body, status=status, headers=headers)


def fhir_response(body, status=200, headers=None):
    response = HttpResponse(json.dumps(body), status=status, content_type=f"{FHIR_JSON}; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response
