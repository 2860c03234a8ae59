"""
What a payer-to-payer client may read after $member-match (PDex 2.0 "Payer-to-payer exchange":
the requester may access only the matched member's data; spec/payer-to-payer.md §5 "Access
control" and §7.7 "consent-gated access is authoritative").

A client is a payer-to-payer client when its registration or its token grants an HRex/PDex
member-match operation scope (the default scope of DCR over mutual TLS). Such a client sees:

- the compartments of the members it matched whose consent is in force, and the shared
  resources member data points at (Organization, Practitioner, ...), nothing else;
- without the member's sensitive data (meta.security PSY, HIV, ETH, ...) unless the consent is
  #sensitive and the payer labels that data (ExchangeSettings.sensitive_data);
- without clinical and claims data whose date of service ends before the payer's data window
  (five years by default; CMS-0057 makes five years the floor).

The fhirstore access layer calls `for_token` for every bearer token (access.register_restriction).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from sandbox.fhirstore.models import Resource, SearchDate, SearchReference, SearchToken
from sandbox.oauth.scopes import OPERATION_SCOPES
from tenants.context import require_tenant

# Types without a patient compartment that member data references.
SHARED_TYPES = ("Organization", "Practitioner", "PractitionerRole", "Location", "Medication")
# v3 ActCode sensitivity codes treated as "sensitive" for the HRex #regular policy.
SENSITIVE_CODES = ("PSY", "PSYTHPN", "HIV", "ETH", "SDV", "SEX", "STD", "SUD", "BH", "MH", "GDIS", "REL", "SICKLE")
# The date-of-service search parameter of each clinical/claims type, for the data window.
SERVICE_DATE = {
    "AllergyIntolerance": "date",
    "CarePlan": "date",
    "CareTeam": "date",
    "Claim": "created",
    "Condition": "recorded-date",
    "DiagnosticReport": "date",
    "DocumentReference": "date",
    "Encounter": "date",
    "ExplanationOfBenefit": "service-date",
    "Immunization": "date",
    "MedicationDispense": "whenhandedover",
    "MedicationRequest": "authoredon",
    "Observation": "date",
    "Procedure": "date",
}


def is_p2p_scope(scope_text):
    return any(item in OPERATION_SCOPES for item in (scope_text or "").split())


@dataclass(frozen=True)
class MemberRestriction:
    """The members a client matched, and how much of their data it may read."""

    patient_ids: frozenset
    regular_ids: frozenset  # members whose data is served without sensitive items
    window_start: object  # datetime: service dates ending before it are withheld
    group_ids: frozenset = frozenset()  # the client's matched Groups from $bulk-member-match

    def filter(self, queryset):
        ids = list(self.patient_ids)
        # Provenance about member data comes along even when it names no Patient among its targets.
        provenance = SearchReference.objects.filter(
            resource_type="Provenance",
            param="target",
            target_id__in=Resource.objects.filter(patient_id__in=ids).values("fhir_id"),
        ).values("resource_id")
        queryset = queryset.filter(
            Q(patient_id__in=ids)
            | Q(patient_id="", resource_type__in=SHARED_TYPES)
            | Q(pk__in=provenance)
            | Q(resource_type="Group", fhir_id__in=list(self.group_ids))
        )
        if self.regular_ids:
            sensitive = SearchToken.objects.filter(
                param="_security", code__in=SENSITIVE_CODES, resource__patient_id__in=list(self.regular_ids)
            ).values("resource_id")
            queryset = queryset.exclude(pk__in=sensitive)
        old = Q()
        for resource_type, param in SERVICE_DATE.items():
            old |= Q(resource_type=resource_type, param=param)
        too_old = SearchDate.objects.filter(old, high__lt=self.window_start, resource__patient_id__in=ids).values(
            "resource_id"
        )
        return queryset.exclude(pk__in=too_old)


def for_token(token):
    """The MemberRestriction of a payer-to-payer client's token, or None for other clients."""
    application = token.application
    if not (is_p2p_scope(token.scope) or (application is not None and is_p2p_scope(application.allowed_scope))):
        return None
    from sandbox.payer2payer.models import BulkMatchJob, ExchangeSettings, MatchedMember

    tenant = require_tenant()
    config = ExchangeSettings.for_tenant(tenant)
    now = timezone.now()
    rows = MatchedMember.objects.filter(application=application, revoked_at__isnull=True) if application else []
    active = [row for row in rows if row.is_active(now)]
    if config.sensitive_data == ExchangeSettings.SensitiveData.EXCLUDED:
        regular = {row.patient_id for row in active}
    else:
        regular = {row.patient_id for row in active if row.policy != MatchedMember.Policy.SENSITIVE}
    return MemberRestriction(
        patient_ids=frozenset(row.patient_id for row in active),
        regular_ids=frozenset(regular),
        window_start=now - timedelta(days=365 * config.data_window_years + config.data_window_years // 4),
        group_ids=frozenset(
            str(u)
            for u in BulkMatchJob.objects.filter(
                application=application, status=BulkMatchJob.Status.SUCCEEDED
            ).values_list("uuid", flat=True)
        )
        if application
        else frozenset(),
    )
