"""
FHIR operation endpoints of provider access (ATR STU2.1 operations, PDex Provider Access):
authenticate through sandbox.fhirstore.access, check scopes and the provider's lists, call
sandbox.attribution.lists / exports, respond. Bulk kick-offs by callers that are not
providers go to the bulk engine's own views unchanged.
"""

from sandbox.attribution import exports, lists, providers
from sandbox.attribution.access import provider_access
from sandbox.bulk import export, kickoff
from sandbox.bulk import views as bulk_views
from sandbox.fhirstore import access
from sandbox.fhirstore.outcome import fhir_response, operation_outcome
from sandbox.fhirstore.views.base import (
    FhirView,
    fhir_base,
    media_type,
    parse_json,
    raw_response,
    read_body,
    resource_headers,
)
from sandbox.oauth.scopes import ScopeSet, required_scope_text


def _actor(caller):
    limit = provider_access(caller)
    if limit is not None:
        identity = limit.identity
        return lists.Actor(
            label=identity.actor,
            is_provider=True,
            organization_npi=identity.organization_npi,
            organization_ids=tuple(providers.organization_ids(identity.organization_npi)),
        )
    if caller.kind == "member":
        return lists.Actor(label=f"payer staff {caller.user.get_username()}")
    return lists.Actor(label=f"payer client {getattr(caller.token.application, 'client_id', '')}")


def _body(request):
    body = read_body(request)
    return parse_json(body) if body.strip() else None


class GroupOperationView(FhirView):
    """Shared checks of the instance operations on an attribution list."""

    interaction = "update"  # the SMART permission the operation needs on Group

    def post(self, request, fhir_id):
        caller = self.authorize(request, "operation", "Group")
        if caller.kind == "token" and not ScopeSet(caller.scope).allows("Group", self.interaction):
            contexts = sorted(ScopeSet(caller.scope).contexts()) or ["system"]
            raise access.Forbidden(
                f"The access token's scopes ({caller.scope}) do not allow ${self.operation}; it needs "
                f"{required_scope_text('Group', self.interaction, contexts[0])}."
            )
        limit = provider_access(caller)
        if limit is not None:
            limit.check("operation", "Group", fhir_id)
        return self.run(request, caller, fhir_id, _body(request))


class MemberAddView(GroupOperationView):
    operation = "member-add"

    def run(self, request, caller, fhir_id, body):
        stored = lists.member_add(fhir_id, lists.read_parameters(body), _actor(caller))
        return raw_response(stored.content, headers=resource_headers(stored))


class MemberRemoveView(GroupOperationView):
    operation = "member-remove"

    def run(self, request, caller, fhir_id, body):
        stored = lists.member_remove(fhir_id, lists.read_parameters(body), _actor(caller))
        return raw_response(stored.content, headers=resource_headers(stored))


class ConfirmView(GroupOperationView):
    operation = "confirm-attribution-list"

    def run(self, request, caller, fhir_id, body):
        if lists.read_parameters(body):
            raise lists.InvalidResource("$confirm-attribution-list takes no parameters.")
        stored, _changed = lists.confirm(fhir_id, _actor(caller))
        # ATR: the Producer acknowledges with 201 ("Accepted").
        return raw_response(stored.content, status=201, headers=resource_headers(stored))


class AttributionStatusView(GroupOperationView):
    operation = "attribution-status"
    interaction = "read"

    def run(self, request, caller, fhir_id, body):
        limit = provider_access(caller)
        visible = (lambda pid: pid in limit.patient_ids) if limit is not None else None
        bundle = lists.attribution_status(fhir_id, lists.read_parameters(body), fhir_base(request), visible=visible)
        return fhir_response(bundle)


def _pairs(request):
    body = None
    if request.method == "POST":
        raw = read_body(request)
        body = parse_json(raw) if raw.strip() or media_type(request) else None
    return kickoff.read_pairs(request, body)


class DataExportView(FhirView):
    """Group/[id]/$davinci-data-export (ATR / PDex Provider Access), GET or POST."""

    def get(self, request, fhir_id):
        return self._kickoff(request, fhir_id)

    def post(self, request, fhir_id):
        return self._kickoff(request, fhir_id)

    def _kickoff(self, request, fhir_id):
        caller = access.identify(request)
        export_type, pairs = exports.split_export_type(_pairs(request))
        handler = exports.EXPORT_TYPE_HANDLERS.get(export_type)
        if handler is not None:
            return handler(request, caller, fhir_id, pairs, kickoff.is_lenient(request))
        job = exports.start_group_export(
            request, caller, fhir_id, pairs, operation="davinci-data-export", export_type=export_type
        )
        return export.kickoff_response(request, job)


class GroupExportView(FhirView):
    """Group/[id]/$export: attributed for providers, the bulk engine's view for everyone else."""

    def dispatch(self, request, *args, **kwargs):
        if request.method in ("GET", "POST") and not self._is_provider(request):
            return bulk_views.GroupKickoffView.as_view()(request, group_id=kwargs["fhir_id"])
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _is_provider(request):
        try:
            return provider_access(access.identify(request)) is not None
        except access.Unauthorized:
            return False

    def get(self, request, fhir_id):
        return self._kickoff(request, fhir_id)

    def post(self, request, fhir_id):
        return self._kickoff(request, fhir_id)

    def _kickoff(self, request, fhir_id):
        caller = access.identify(request)
        job = exports.start_group_export(request, caller, fhir_id, _pairs(request), operation="export")
        return export.kickoff_response(request, job)


class PatientExportView(GroupExportView):
    """Patient/$export: a provider gets its attributed members' compartments only."""

    def dispatch(self, request, *args, **kwargs):
        if request.method in ("GET", "POST") and not self._is_provider(request):
            return bulk_views.PatientKickoffView.as_view()(request)
        return FhirView.dispatch(self, request, *args, **kwargs)

    def get(self, request):
        return self._run(request)

    def post(self, request):
        return self._run(request)

    def _run(self, request):
        job = exports.start_patient_export(request, access.identify(request), _pairs(request))
        return export.kickoff_response(request, job)


class SystemExportView(GroupExportView):
    """[base]/$export: refused to providers, whose data is limited to their attribution."""

    def dispatch(self, request, *args, **kwargs):
        if not self._is_provider(request):
            return bulk_views.SystemKickoffView.as_view()(request)
        return fhir_response(
            operation_outcome(
                [
                    (
                        "error",
                        "forbidden",
                        "A provider's client may not export the whole payer; use Group/[id]/$davinci-data-export "
                        "on your attribution list (find it with Group?identifier=<your NPI>).",
                        None,
                    )
                ]
            ),
            status=403,
        )
