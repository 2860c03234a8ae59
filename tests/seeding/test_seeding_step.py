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


def test_it_prepares_in_a_worker_process_for_large_payers(tenant, monkeypatch):
    """The worker-process path writes the same data as the generator makes, chunk by chunk."""
    monkeypatch.setattr(populate, "WORKER_FROM", 4)
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 300)
    reported = []
    counts = populate.seed_tenant(tenant, members=5, seed=2, report=lambda f, m: reported.append(m))
    expected = Counter(r["resourceType"] for r in generate_payer(slug="acme", name="Acme Health", members=5, seed=2))
    assert counts == expected
    with tenant_scope(tenant):
        assert Counter(Resource.objects.values_list("resource_type", flat=True)) == expected
    assert any(m.startswith("Seeding member") for m in reported)
    assert len(reported) >= 3


def _break_member(monkeypatch, number):
    """Make the generator's member `number` an invalid Patient, in this process and in a worker."""
    from functools import partial

    from sandbox.seeding import generator
    from tests.seeding import broken_generator

    monkeypatch.setattr(generator, "iter_batches", partial(broken_generator.iter_batches, broken_member=number))
    return f"Patient/pat-{number:06d}"


@pytest.mark.parametrize("worker_from", [4, populate.MAX_MEMBERS], ids=["worker process", "same process"])
def test_it_writes_nothing_of_a_chunk_holding_an_invalid_resource(tenant, monkeypatch, worker_from):
    """An invalid resource of a validated member stops seeding; its chunk is not written, earlier chunks are."""
    # Chunks of 100: the shared resources, member 1 (152 resources), then members 2 and 3.
    from sandbox.fhirstore.errors import InvalidResource

    reference = _break_member(monkeypatch, 3)
    monkeypatch.setattr(populate, "WORKER_FROM", worker_from)
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 100)
    with pytest.raises(InvalidResource, match=f"{reference} is not valid FHIR R4"):
        populate.seed_tenant(tenant, members=5, seed=2)
    with tenant_scope(tenant):
        assert not Resource.objects.filter(resource_type="Patient", fhir_id__in=["pat-000002", "pat-000003"]).exists()
        assert Resource.objects.filter(resource_type="Patient", fhir_id="pat-000001").exists()


def test_it_stops_with_a_clear_error_when_the_worker_process_dies(tenant, monkeypatch):
    """A worker killed mid-job (out of memory, a signal) fails the seeding; it does not hang."""
    from functools import partial

    from sandbox.seeding import generator
    from tests.seeding import broken_generator

    monkeypatch.setattr(generator, "iter_batches", partial(broken_generator.dying_iter_batches, die_at_member=3))
    monkeypatch.setattr(populate, "WORKER_FROM", 4)
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 100)
    with pytest.raises(RuntimeError, match=r"seeding worker process stopped \(exit code 3\)"):
        populate.seed_tenant(tenant, members=5, seed=2)
    with tenant_scope(tenant):
        assert Resource.objects.filter(resource_type="Patient", fhir_id="pat-000001").exists()
        assert not Resource.objects.filter(resource_type="Patient", fhir_id="pat-000003").exists()


def test_it_validates_the_first_members_and_then_a_sample(tenant, monkeypatch):
    """Past the first members, seeding validates one member in SAMPLE_EVERY; validate="all" checks every one."""
    from sandbox.fhirstore.errors import InvalidResource
    from sandbox.seeding import chunks

    monkeypatch.setattr(chunks, "FULLY_VALIDATED_MEMBERS", 4)
    monkeypatch.setattr(chunks, "SAMPLE_EVERY", 3)
    _break_member(monkeypatch, 5)
    populate.seed_tenant(tenant, members=7, seed=2)
    with tenant_scope(tenant):
        assert Resource.objects.filter(resource_type="Patient").count() == 7
    populate.wipe_fhir_data(tenant)
    with pytest.raises(InvalidResource, match="Patient/pat-000005 is not valid FHIR R4"):
        populate.seed_tenant(tenant, members=7, seed=2, validate="all")

    populate.wipe_fhir_data(tenant)
    _break_member(monkeypatch, 6)
    with pytest.raises(InvalidResource, match="Patient/pat-000006 is not valid FHIR R4"):
        populate.seed_tenant(tenant, members=7, seed=2)


def test_create_payer_command_can_validate_every_resource(monkeypatch):
    seen = []
    original = populate.seed_tenant

    def spy(*args, **kwargs):
        seen.append(kwargs.get("validate"))
        return original(*args, **kwargs)

    monkeypatch.setattr(populate, "seed_tenant", spy)
    call_command("create_payer", "delta", "--members", "4", "--validate-all")
    call_command("create_payer", "omega", "--members", "4")
    assert seen == ["all", "sample"]
