import pytest

from tenants.context import tenant_scope
from tests import services
from tests.factories import MembershipFactory, TenantFactory, UserFactory

SERVICE_MARKERS = ("postgres", "redis", "celery", "browser")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in SERVICE_MARKERS:
            if item.get_closest_marker(marker) is None:
                continue
            reason = services.missing(marker)
            if reason is None:
                continue
            if services.REQUIRED:
                item.service_missing = reason
                item.add_marker(pytest.mark.usefixtures("_required_service_missing"))
            else:
                item.add_marker(pytest.mark.skip(reason=reason))
            break


@pytest.fixture
def _required_service_missing(request):
    pytest.fail(f"SANDBOX_REQUIRE_SERVICES is set but this test cannot run: {request.node.service_missing}")


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="charlie")


@pytest.fixture
def tenant(db, user):
    """Alice's ready payer."""
    return MembershipFactory(user=user, tenant=TenantFactory(slug="acme", name="Acme Health")).tenant


@pytest.fixture
def other_tenant(db, other_user):
    """Charlie's payer, which Alice cannot see."""
    return MembershipFactory(user=other_user, tenant=TenantFactory(slug="beta", name="Beta Health")).tenant


@pytest.fixture
def member_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def in_tenant():
    """`with in_tenant(t):` runs a block as tenant t (for fixtures writing tenant-owned rows)."""
    return tenant_scope
