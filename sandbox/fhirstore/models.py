"""
FHIR resource storage (DESIGN.md §7, tech-notes §6).

`Resource` holds the current version of every resource as the exact JSON text served, so
export can stream it without parsing. `ResourceVersion` keeps every version for vread and
history. The Search* tables are the search index, rebuilt for a resource in the same
transaction as each write; search never looks inside the JSON.

Every table is tenant-owned and every index leads with the tenant. Foreign keys to Resource
and to the tenant cascade in Django and have no database constraint, so deleting a tenant's
rows with one raw DELETE per table works in any order.
"""

from django.db import models
from django.utils import timezone

from tenants.models import Tenant, TenantOwned


def _tenant_field():
    # No database constraint and no index of its own: checking the deferred constraint on every
    # row was about a third of PostgreSQL's time when seeding, and every index of these tables
    # already leads with tenant_id. Rows are only written inside tenant_scope, for the active
    # tenant (and row-level security enforces it on PostgreSQL).
    return models.ForeignKey(
        Tenant, on_delete=models.CASCADE, editable=False, related_name="+", db_constraint=False, db_index=False
    )


class Resource(TenantOwned):
    tenant = _tenant_field()
    resource_type = models.CharField(max_length=64)
    fhir_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField(default=timezone.now)
    deleted = models.BooleanField(default=False)
    content = models.TextField()
    # The Patient (fhir_id) whose compartment holds this resource; "" when none.
    patient_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "resource_type", "fhir_id"], name="fhir_resource_unique_id"),
        ]
        indexes = [
            models.Index(fields=["tenant", "resource_type", "last_updated"], name="fhir_resource_updated"),
            models.Index(fields=["tenant", "patient_id", "resource_type"], name="fhir_resource_patient"),
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.fhir_id}/_history/{self.version_id}"


class ResourceVersion(TenantOwned):
    class Method(models.TextChoices):
        CREATE = "POST", "create"
        UPDATE = "PUT", "update"
        DELETE = "DELETE", "delete"

    tenant = _tenant_field()
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="versions", db_constraint=False)
    resource_type = models.CharField(max_length=64)
    fhir_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField()
    last_updated = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    method = models.CharField(max_length=8, choices=Method.choices)
    content = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "resource_type", "fhir_id", "version_id"], name="fhir_version_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "resource_type", "last_updated"], name="fhir_version_updated"),
            models.Index(fields=["tenant", "last_updated"], name="fhir_version_system"),
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.fhir_id}/_history/{self.version_id}"


class SearchIndex(TenantOwned):
    # No database constraint: the store writes these rows in the resource's own transaction,
    # loading skips a lookup per index row, and tenant data can be deleted table by table in
    # any order.
    tenant = _tenant_field()
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    resource_type = models.CharField(max_length=64)
    param = models.CharField(max_length=64)

    class Meta:
        abstract = True


class SearchToken(SearchIndex):
    system = models.CharField(max_length=255, blank=True, default="")
    code = models.CharField(max_length=255, blank=True, default="")
    # Normalised display / CodeableConcept.text, for :text.
    text = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "resource_type", "param", "code", "system"], name="fhir_token_code"),
        ]


class SearchString(SearchIndex):
    # Case- and accent-folded, for the default prefix match and :contains.
    normalized = models.CharField(max_length=255)
    exact = models.CharField(max_length=255)

    class Meta:
        indexes = [
            # varchar_pattern_ops lets LIKE 'abc%' use the index whatever the collation (PG only).
            models.Index(
                fields=["tenant", "resource_type", "param", "normalized"],
                name="fhir_string_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops", "varchar_pattern_ops", "varchar_pattern_ops"],
            ),
        ]


class SearchReference(SearchIndex):
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    # Absolute references to other servers (and canonicals), matched as given.
    url = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant", "resource_type", "param", "target_id", "target_type"], name="fhir_ref_target"
            ),
            # _revinclude and chained/_has lookups come from the target side.
            models.Index(
                fields=["tenant", "target_type", "target_id", "resource_type", "param"], name="fhir_ref_reverse"
            ),
        ]


class SearchDate(SearchIndex):
    # The instant range a value covers at its precision (FHIR search "date" rules).
    low = models.DateTimeField()
    high = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "resource_type", "param", "low", "high"], name="fhir_date_range"),
        ]


class SearchQuantity(SearchIndex):
    value = models.DecimalField(max_digits=30, decimal_places=10)
    system = models.CharField(max_length=255, blank=True, default="")
    code = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "resource_type", "param", "value"], name="fhir_quantity_value"),
        ]


class SearchUri(SearchIndex):
    uri = models.CharField(max_length=500)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "resource_type", "param", "uri"], name="fhir_uri_value"),
        ]


class SearchSnapshot(TenantOwned):
    """
    The ordered result ids of a sorted search, so that its pages neither skip nor repeat
    results when data changes between page requests. Unsorted searches page by keyset on
    the primary key instead and need no snapshot.
    """

    tenant = _tenant_field()
    resource_type = models.CharField(max_length=64)
    query = models.TextField()
    ids = models.TextField()
    total = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="fhir_snapshot_created")]

    def __str__(self):
        return f"{self.resource_type} snapshot {self.pk}"


INDEX_MODELS = {
    "token": SearchToken,
    "string": SearchString,
    "reference": SearchReference,
    "date": SearchDate,
    "quantity": SearchQuantity,
    "uri": SearchUri,
}
