"""
The provider policy of the FHIR access layer (PDex Provider Access §7.3, ATR §6.3;
spec/bulk-data-and-attribution.md §7.3): what a provider's token may reach beyond its scopes.

`provider_restriction` is registered with sandbox.fhirstore.access (register_restriction) in
AttributionConfig.ready(); for a provider's token it returns a ProviderAccess, the caller's
`restriction`, which the access layer applies to every read, search and operation:

- Groups: only the provider's own attribution lists; any other Group does not exist for it.
- Patient-compartment data: only of its attributed members (active members of its lists who
  have not opted out). Resources outside every compartment (Organization, Practitioner,
  Location, formulary) stay readable.
- No writes, transactions, batches or type/system history: lists change through the ATR
  operations, which the payer adjudicates.

`drop_opted_out` is the bulk engine's run-time member filter.
"""

from functools import cached_property

from django.db.models import Q

from sandbox.attribution import lists, optout, providers
from sandbox.fhirstore.access import Forbidden
from sandbox.fhirstore.errors import NotFound
from sandbox.fhirstore.models import Resource

REFUSED = {
    "create",
    "update",
    "delete",
    "patch",
    "transaction",
    "batch",
    "history-type",
    "history-system",
    "search-system",
}
# Old versions may sit in another compartment, so only a provider's own lists have history.
GROUP_ONLY = {"vread", "history-instance"}
INSTANCE = {"read", "vread", "history-instance", "operation"}


class ProviderAccess:
    """What one provider organization may see; built per request, lists computed lazily."""

    def __init__(self, identity):
        self.identity = identity

    def __repr__(self):
        return f"<ProviderAccess NPI {self.identity.organization_npi or '(none)'}>"

    @cached_property
    def group_ids(self):
        return frozenset(providers.group_ids(self.identity.organization_npi))

    @cached_property
    def patient_ids(self):
        """Attributed members: active members of the provider's lists, minus opt-outs (§7.3)."""
        members = set()
        for group_id in self.group_ids:
            members.update(lists.active_member_ids(group_id))
        return frozenset(members - optout.opted_out(members))

    def check_interaction(self, interaction, resource_type, request):
        """The access layer's hook (sandbox.fhirstore.access.authorize): see check()."""
        match = getattr(request, "resolver_match", None)
        self.check(interaction, resource_type, (match.kwargs if match else {}).get("fhir_id"))
        if interaction == "search-type" and any(key.startswith("_has:Group:") for key in request.GET):
            # The reverse chain would test membership of lists the provider cannot see.
            raise Forbidden("_has:Group is not available to a provider's client; read your lists instead.")

    def check(self, interaction, resource_type=None, fhir_id=None):
        """Raise for an interaction the provider may not make; 404 for what it may not see."""
        if interaction in REFUSED or (interaction in GROUP_ONLY and resource_type != "Group"):
            raise Forbidden(
                f"{interaction} is not available to a provider's client: it reads and searches its "
                "attribution lists and their members' data; lists change through $member-add, "
                "$member-remove and $confirm-attribution-list.",
            )
        if interaction in INSTANCE and resource_type and fhir_id and not self.allows(resource_type, fhir_id):
            raise NotFound(f"{resource_type}/{fhir_id} does not exist.")

    def allows(self, resource_type, fhir_id):
        """Whether the provider may see this resource (one that does not exist: the store says 404)."""
        row = Resource.objects.filter(resource_type=resource_type, fhir_id=fhir_id).only(
            "resource_type", "fhir_id", "patient_id", "deleted"
        )
        row = row.first()
        if row is None:
            return True
        # A deleted row has lost its compartment; its old versions may be another patient's.
        return not row.deleted and self.allows_row(row)

    def allows_row(self, row):
        if row.resource_type == "Group":
            return row.fhir_id in self.group_ids
        return row.patient_id == "" or row.patient_id in self.patient_ids

    def filter(self, qs):
        """Narrow a queryset of Resource rows to what the provider may see."""
        groups = Q(resource_type="Group", fhir_id__in=list(self.group_ids))
        others = ~Q(resource_type="Group") & (Q(patient_id="") | Q(patient_id__in=list(self.patient_ids)))
        return qs.filter(groups | others)


def provider_restriction(token):
    """The access-layer restriction of a provider's token (a ProviderAccess), else None."""
    identity = providers.identify_provider(token)
    return ProviderAccess(identity) if identity is not None else None


def provider_access(caller):
    """The Caller's ProviderAccess, or None when it is not a provider's token."""
    restriction = getattr(caller, "restriction", None)
    return restriction if isinstance(restriction, ProviderAccess) else None


def drop_opted_out(tenant, job, patient_ids):
    """
    Bulk engine member filter (sandbox.bulk.export `member_filter`): leaves out members who
    opted out of provider access, re-checked when the job runs (PDex §7.3 "Consent/opt-out is
    re-checked for every member each time an export runs").
    """
    if patient_ids is None:
        patient_ids = Resource.objects.filter(resource_type="Patient", deleted=False).values_list("fhir_id", flat=True)
    patient_ids = list(patient_ids)
    out = optout.opted_out(patient_ids)
    return [pid for pid in patient_ids if pid not in out]
