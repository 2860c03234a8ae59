"""
Errors raised by the FHIR store and search services.

Each carries the HTTP status and OperationOutcome issues it maps to, so that views (and other
callers such as bulk export or member match) can report them without knowing which layer
raised them.
"""


class FhirError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, diagnostics, *, expression=None, issues=None, status=None, code=None, headers=None):
        super().__init__(diagnostics)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.issues = issues or [("error", self.code, diagnostics, expression)]


class InvalidResource(FhirError):
    """Malformed or structurally invalid input (400)."""

    status, code = 400, "invalid"


class InvalidSearch(FhirError):
    """A search parameter, modifier, prefix or value that cannot be used (400)."""

    status, code = 400, "invalid"


class NotSupported(FhirError):
    status, code = 400, "not-supported"


class UnknownType(FhirError):
    status, code = 404, "not-supported"


class NotFound(FhirError):
    status, code = 404, "not-found"


class Gone(FhirError):
    status, code = 410, "deleted"


class Conflict(FhirError):
    status, code = 409, "conflict"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"
