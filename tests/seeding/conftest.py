import functools

import pytest

from sandbox.seeding.generator import generate_payer

SLUG = "acme"
NAME = "Acme Health"


@functools.cache
def generated(members: int = 60, seed: int = 1) -> tuple[dict, ...]:
    """One payer's resources, generated once per test session (the generator is pure)."""
    return tuple(generate_payer(slug=SLUG, name=NAME, members=members, seed=seed))


@pytest.fixture
def resources():
    return generated()


@pytest.fixture
def by_key(resources):
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


@pytest.fixture
def seeding_only(monkeypatch):
    """Provisioning runs only the steps seeding needs (certificates take seconds and are tested elsewhere)."""
    from tenants import provisioning

    registry = {label: step for label, step in provisioning._steps.items() if label != "Issue certificates"}
    monkeypatch.setattr(provisioning, "_steps", registry)
    return registry


@pytest.fixture
def seeded(tenant):
    """Alice's payer "acme" holding its synthetic data (4 members, seed 1)."""
    from sandbox.seeding import populate

    # Validation of generated data is tested with provisioning; skipping it here saves seconds per test.
    populate.seed_tenant(tenant, members=4, seed=1, validate=False)
    return tenant


@pytest.fixture
def other_seeded(other_tenant):
    """Charlie's payer "beta" with its own synthetic data, which Alice must never reach."""
    from sandbox.seeding import populate

    populate.seed_tenant(other_tenant, members=4, seed=1, validate=False)
    return other_tenant


@pytest.fixture
def read(in_tenant):
    """read(tenant, "Patient", id) -> the stored resource as a dict, or None."""
    from sandbox.fhirstore.models import Resource

    def reader(tenant, resource_type, fhir_id):
        import json

        with in_tenant(tenant):
            row = Resource.objects.filter(resource_type=resource_type, fhir_id=fhir_id, deleted=False).first()
            return json.loads(row.content) if row else None

    return reader
