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

from datetime import timedelta
from functools import cached_property

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


class MemberRestriction:
    """
    The members a client matched, and how much of their data it may read. Lazy: nothing is
    queried until a view filters with it, so $member-match itself pays nothing, and the
    filters are subqueries, so a client with thousands of matched members costs no more.
    """

    def __init__(self, application, now=None):
        self.application = application
        self.now = now or timezone.now()

    @cached_property
    def config(self):
        from sandbox.payer2payer.models import ExchangeSettings

        return ExchangeSettings.for_tenant(require_tenant())

    @property
    def window_start(self):
        """Service dates ending before this are withheld (the payer's data window)."""
        years = self.config.data_window_years
        return self.now - timedelta(days=365 * years + years // 4)

    def matches(self):
        """The client's MatchedMember rows whose consent is in force now."""
        from sandbox.payer2payer.models import MatchedMember

        if self.application is None:
            return MatchedMember.objects.none()
        return MatchedMember.objects.filter(
            Q(consent_start__isnull=True) | Q(consent_start__lte=self.now),
            Q(consent_end__isnull=True) | Q(consent_end__gte=self.now),
            application=self.application,
            revoked_at__isnull=True,
        )

    def regular_matches(self):
        """Matches whose data is served without sensitive items."""
        from sandbox.payer2payer.models import ExchangeSettings, MatchedMember

        if self.config.sensitive_data == ExchangeSettings.SensitiveData.EXCLUDED:
            return self.matches()
        return self.matches().exclude(policy=MatchedMember.Policy.SENSITIVE)

    def groups(self):
        from sandbox.payer2payer.models import BulkMatchJob

        if self.application is None:
            return BulkMatchJob.objects.none()
        return BulkMatchJob.objects.filter(application=self.application, status=BulkMatchJob.Status.SUCCEEDED)

    @cached_property
    def patient_ids(self):
        return frozenset(self.matches().values_list("patient_id", flat=True))

    @cached_property
    def regular_ids(self):
        return frozenset(self.regular_matches().values_list("patient_id", flat=True))

    @cached_property
    def group_ids(self):
        return frozenset(str(u) for u in self.groups().values_list("uuid", flat=True))

    def filter(self, queryset):
        ids = self.matches().values("patient_id")
        # Provenance about member data comes along even when it names no Patient among its targets.
        provenance = SearchReference.objects.filter(
            resource_type="Provenance",
            param="target",
            target_id__in=Resource.objects.filter(patient_id__in=ids).values("fhir_id"),
        ).values("resource_id")
        group_ids = [str(u) for u in self.groups().values_list("uuid", flat=True)]
        queryset = queryset.filter(
            Q(patient_id__in=ids)
            | Q(patient_id="", resource_type__in=SHARED_TYPES)
            | Q(pk__in=provenance)
            | Q(resource_type="Group", fhir_id__in=group_ids)
        )
        sensitive = SearchToken.objects.filter(
            param="_security",
            code__in=SENSITIVE_CODES,
            resource__patient_id__in=self.regular_matches().values("patient_id"),
        ).values("resource_id")
        old = Q()
        for resource_type, param in SERVICE_DATE.items():
            old |= Q(resource_type=resource_type, param=param)
        too_old = SearchDate.objects.filter(old, high__lt=self.window_start, resource__patient_id__in=ids).values(
            "resource_id"
        )
        return queryset.exclude(pk__in=sensitive).exclude(pk__in=too_old)


def for_token(token):
    """The MemberRestriction of a payer-to-payer client's token, or None for other clients."""
    application = token.application
    if not (is_p2p_scope(token.scope) or (application is not None and is_p2p_scope(application.allowed_scope))):
        return None
    return MemberRestriction(application)
