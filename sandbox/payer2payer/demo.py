"""
The demo pairing: `runsandbox` creates acme-health and bluebird-health, and bluebird-health's
designed "unique" member (Patricia Person) was covered by acme-health before. Her earlier
Coverage at bluebird-health carries acme-health's member id for the same person, so that a
payer-to-payer exchange from bluebird-health to acme-health matches out of the box.

Designed members have the same demographics at every payer and member ids derived from the
payer's slug (sandbox.seeding.members), so the old payer's member id is known without reading
its data.
"""

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import NotFound
from sandbox.seeding.identifiers import DEFAULT_IDENTIFIER_BASE, IDENTIFIER_TYPE_SYSTEM, NPI_SYSTEM, member_id_prefix
from sandbox.seeding.members import patient_id
from tenants.context import tenant_scope

# new payer slug -> old payer slug
DEMO_PRIOR_PAYERS = {"bluebird-health": "acme-health"}
UNIQUE_INDEX = 0


def prior_coverage_id(old_slug):
    return f"prior-{old_slug}"[:64]


def link_prior_coverage(new_tenant, old_slug, *, old_name=None, identifier_base=DEFAULT_IDENTIFIER_BASE):
    """
    Give `new_tenant`'s designed unique member an earlier Coverage at the payer `old_slug`
    whose member id is that payer's designed unique member. Idempotent; returns the Coverage id,
    or None when the member is not there (payer not seeded).
    """
    from sandbox.trust.models import DirectoryEntry
    from tenants.demo import DEMO_PAYERS

    entry = DirectoryEntry.objects.filter(tenant__slug=old_slug).first()
    name = old_name or (entry.name if entry else dict(DEMO_PAYERS).get(old_slug, old_slug))
    member_id = f"{member_id_prefix(old_slug)}{UNIQUE_INDEX + 1:08d}"
    member = patient_id(UNIQUE_INDEX)
    payor = {"display": name}
    if entry is not None and entry.npi:
        payor["identifier"] = {"system": NPI_SYSTEM, "value": entry.npi}
    coverage = {
        "resourceType": "Coverage",
        "id": prior_coverage_id(old_slug),
        "identifier": [
            {
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MB"}]},
                "system": f"{identifier_base}/{old_slug}/member-id",
                "value": member_id,
            }
        ],
        "status": "cancelled",
        "subscriberId": member_id,
        "beneficiary": {"reference": f"Patient/{member}"},
        "relationship": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}]
        },
        "payor": [payor],
    }
    with tenant_scope(new_tenant):
        try:
            store.read("Patient", member)
        except NotFound:
            return None
        try:
            current = store.read("Coverage", coverage["id"]).as_dict()
        except NotFound:
            current = None
        if current is None or {k: v for k, v in current.items() if k != "meta"} != coverage:
            store.update("Coverage", coverage["id"], coverage)
    return coverage["id"]


def link_step(tenant, job, report):
    """Provisioning step: the demo pairing, for the demo payers only."""
    old_slug = DEMO_PRIOR_PAYERS.get(tenant.slug)
    if old_slug:
        link_prior_coverage(tenant, old_slug)
    report(1.0, "Linked the demo member to an earlier coverage" if old_slug else "No demo pairing")


def link_demo_payers():
    """Apply the pairing to existing demo payers (run at every sandbox start; idempotent)."""
    from tenants.models import Tenant

    for new_slug, old_slug in DEMO_PRIOR_PAYERS.items():
        tenant = Tenant.objects.filter(slug=new_slug, status=Tenant.Status.READY).first()
        if tenant is not None:
            link_prior_coverage(tenant, old_slug)
