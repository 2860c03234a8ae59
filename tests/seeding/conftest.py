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
