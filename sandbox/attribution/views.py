"""
FHIR operation endpoints of provider access (ATR STU2.1 operations, PDex Provider Access):
authenticate through sandbox.fhirstore.access, check scopes and the provider's lists, call
sandbox.attribution.lists / exports, respond. Bulk kick-offs by callers that are not
providers go to the bulk engine's own views unchanged.
"""

import json

from django.views.decorators.csrf import csrf_exempt

from sandbox.attribution import exports, lists, optout, providers
from sandbox.attribution.access import provider_access
from sandbox.bulk import export, kickoff
from sandbox.bulk import views as bulk_views
from sandbox.fhirstore import access
from sandbox.fhirstore.outcome import fhir_response, operation_outcome
from sandbox.fhirstore.views import history as fhir_history
from sandbox.fhirstore.views import resource as fhir_resource
from sandbox.fhirstore.views import search as fhir_search
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
        elif caller.restriction is not None:
            # Restricted by another policy (payer-to-payer): attribution lists are not its business.
            raise access.Forbidden(f"${self.operation} is not available to this client.")
        return self.run(request, caller, fhir_id, _body(request))


def _group_response(caller, stored, status=200):
    if provider_access(caller) is None:
        return raw_response(stored.content, status=status, headers=resource_headers(stored))
    group = stored.as_dict()
    without_opted_out(group)
    return fhir_response(group, status=status, headers=resource_headers(stored))


class MemberAddView(GroupOperationView):
    operation = "member-add"

    def run(self, request, caller, fhir_id, body):
        stored = lists.member_add(fhir_id, lists.read_parameters(body), _actor(caller))
        return _group_response(caller, stored)


class MemberRemoveView(GroupOperationView):
    operation = "member-remove"

    def run(self, request, caller, fhir_id, body):
        stored = lists.member_remove(fhir_id, lists.read_parameters(body), _actor(caller))
        return _group_response(caller, stored)


class ConfirmView(GroupOperationView):
    operation = "confirm-attribution-list"

    def run(self, request, caller, fhir_id, body):
        if lists.read_parameters(body):
            raise lists.InvalidResource("$confirm-attribution-list takes no parameters.")
        stored, _changed = lists.confirm(fhir_id, _actor(caller))
        # ATR: the Producer acknowledges with 201 ("Accepted").
        return _group_response(caller, stored, status=201)


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


def _groups_in(document):
    if document.get("resourceType") == "Group":
        return [document]
    entries = document.get("entry") if document.get("resourceType") == "Bundle" else None
    return [
        e["resource"]
        for e in entries or []
        if isinstance(e, dict) and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Group"
    ]


def without_opted_out(document):
    """
    The Groups of a response body (a Group or a Bundle of them) without members who opted out
    of provider access: PDex §7.3 "opted-out members SHALL be left out of attribution lists",
    and no trace of the opt-out is shown. Returns whether anything was left out.
    """
    groups = _groups_in(document)
    members = {pid for group in groups for pid in lists.member_ids(group, active_only=False)}
    out = optout.opted_out(members) if members else set()
    if not out:
        return False
    bases = lists.store.local_bases()
    for group in groups:
        kept = [m for m in group.get("member") or [] if lists._member_patient(m, bases) not in out]
        if len(kept) != len(group.get("member") or []):
            group["member"] = kept
            if not kept:
                group.pop("member")
            if "quantity" in group:
                group["quantity"] = len(lists.member_ids(group))
    return True


def _provider_group_view(view_class):
    """A FHIR store Group view whose answers to providers leave opted-out members out."""
    inner = view_class.as_view()

    @csrf_exempt
    def view(request, **kwargs):
        response = inner(request, resource_type="Group", **kwargs)
        if response.status_code != 200 or request.method not in ("GET", "POST") or response.streaming:
            return response
        try:
            caller = access.identify(request)
        except access.Unauthorized:
            return response
        if provider_access(caller) is None:
            return response
        document = json.loads(response.content)
        if without_opted_out(document):
            response.content = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response

    return view


group_type = _provider_group_view(fhir_resource.TypeView)
group_search = _provider_group_view(fhir_search.SearchPostView)
group_instance = _provider_group_view(fhir_resource.InstanceView)
group_history = _provider_group_view(fhir_history.InstanceHistoryView)
group_version = _provider_group_view(fhir_resource.VersionView)
