"""The "Seed synthetic data" provisioning step: a new payer's store holds its generated data."""

from collections import Counter

import pytest
from django.core.management import call_command

from sandbox.fhirstore.models import Resource
from sandbox.oauth.tokens import mint_token
from sandbox.seeding import populate
from sandbox.seeding.generator import generate_payer
from tenants import provisioning
from tenants.context import tenant_scope
from tenants.models import Tenant, TenantJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeding_only")]


def _stored(tenant):
    with tenant_scope(tenant):
        return {(r.resource_type, r.fhir_id): r.content for r in Resource.objects.filter(deleted=False)}


def _provision(slug="gamma", params=None):
    tenant, job = provisioning.create_payer(name="Gamma Health", slug=slug, params=params)
    provisioning.provision(tenant, job.pk)
    tenant.refresh_from_db()
    return tenant


def test_it_seeds_every_generated_resource_through_provisioning():
    """Counts per type in the store equal what the generator yields for the same arguments."""
    tenant = _provision(params={"members": 6, "seed": 3})
    assert tenant.status == Tenant.Status.READY
    expected = Counter(r["resourceType"] for r in generate_payer(slug="gamma", name="Gamma Health", members=6, seed=3))
    with tenant_scope(tenant):
        stored = Counter(Resource.objects.filter(deleted=False).values_list("resource_type", flat=True))
    assert stored == expected
    assert stored["Patient"] == 6


def test_it_uses_the_default_member_count_and_seed(settings):
    settings.SANDBOX_DEFAULT_MEMBERS = 5
    tenant = _provision()
    with tenant_scope(tenant):
        assert Resource.objects.filter(resource_type="Patient").count() == 5
    assert populate.seed_parameters({}) == (5, populate.DEFAULT_SEED)


def _without_write_times(tenant):
    # meta.lastUpdated is the write time (24 characters); everything else is generated.
    marker = '"lastUpdated":"'
    return {
        key: content.split(marker, 1)[0] + content.split(marker, 1)[1][24:] for key, content in _stored(tenant).items()
    }


def test_it_makes_the_same_data_from_the_same_seed():
    """A payer deleted and created again with the same slug and seed holds the same resources."""
    first = _without_write_times(_provision("gamma", {"members": 5, "seed": 9}))
    provisioning.delete_payer(Tenant.objects.get(slug="gamma"))
    again = _without_write_times(_provision("gamma", {"members": 5, "seed": 9}))
    provisioning.delete_payer(Tenant.objects.get(slug="gamma"))
    other_seed = _without_write_times(_provision("gamma", {"members": 5, "seed": 10}))
    assert first == again
    assert first != other_seed


def test_it_reports_progress_per_member(monkeypatch):
    messages = []
    tenant, job = provisioning.create_payer(name="Gamma Health", slug="gamma", params={"members": 60})
    original = provisioning._save_progress

    def spy(tenant, job_id, percent, message):
        messages.append((percent, message))
        original(tenant, job_id, percent, message)

    monkeypatch.setattr(provisioning, "_save_progress", spy)
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 500)
    provisioning.provision(tenant, job.pk)
    seeding = [m for _p, m in messages if m.startswith("Seeding member")]
    assert len(seeding) >= 3
    assert seeding[-1].endswith("of 60")
    percents = [p for p, _m in messages]
    assert percents == sorted(percents)
    with tenant_scope(tenant):
        assert TenantJob.objects.get(pk=job.pk).status == TenantJob.Status.SUCCEEDED


def test_it_resolves_every_reference_through_the_api(client):
    """Every relative reference of a seeded resource reads back through the FHIR API."""
    tenant = _provision(params={"members": 4})
    token = mint_token(tenant, "system/*.read").token
    references = set()

    def collect(value):
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and "/" in ref and not ref.startswith(("http", "urn:", "#")):
                references.add(ref)
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    import json

    for content in _stored(tenant).values():
        collect(json.loads(content))
    assert len(references) > 50
    for reference in sorted(references):
        response = client.get(f"/t/{tenant.slug}/fhir/{reference}", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, reference


def test_create_payer_command_seeds_the_requested_members(capsys):
    call_command("create_payer", "delta", "--members", "7", "--seed", "2")
    tenant = Tenant.objects.get(slug="delta")
    with tenant_scope(tenant):
        assert Resource.objects.filter(resource_type="Patient").count() == 7


def test_it_validates_in_a_second_process_for_large_payers(tenant, monkeypatch):
    """The parallel path writes the same data, chunk by chunk, after each chunk is validated."""
    monkeypatch.setattr(populate, "PARALLEL_VALIDATION_FROM", 4)
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 300)
    reported = []
    counts = populate.seed_tenant(tenant, members=5, seed=2, report=lambda f, m: reported.append(m))
    expected = Counter(r["resourceType"] for r in generate_payer(slug="acme", name="Acme Health", members=5, seed=2))
    assert counts == expected
    with tenant_scope(tenant):
        assert Counter(Resource.objects.values_list("resource_type", flat=True)) == expected
    assert any(m.startswith("Seeding member") for m in reported)


def test_it_writes_nothing_invalid_when_validating_in_a_second_process(tenant, monkeypatch):
    from sandbox.fhirstore.errors import InvalidResource
    from sandbox.seeding import generator

    original = generator.iter_batches

    def broken(**kwargs):
        for batch in original(**kwargs):
            if batch.phase == "members" and batch.members_done == 3:
                bad = {**batch.resources[0], "birthDate": "not a date"}
                batch = generator.Batch(batch.phase, batch.members_done, batch.members_total, (bad,))
            yield batch

    monkeypatch.setattr(populate, "PARALLEL_VALIDATION_FROM", 4)
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 100)
    monkeypatch.setattr(generator, "iter_batches", broken)
    with pytest.raises(InvalidResource, match="Patient/pat-000003 is not valid FHIR R4"):
        populate.seed_tenant(tenant, members=5, seed=2)
    with tenant_scope(tenant):
        assert not Resource.objects.filter(resource_type="Patient", fhir_id="pat-000003").exists()
