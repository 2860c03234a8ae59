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
            if marker in services.REQUIRED:
                item.service_missing = reason
                item.add_marker(pytest.mark.usefixtures("_required_service_missing"))
            else:
                item.add_marker(pytest.mark.skip(reason=reason))
            break


@pytest.fixture
def _required_service_missing(request):
    pytest.fail(f"SANDBOX_REQUIRE_SERVICES requires it, but this test cannot run: {request.node.service_missing}")


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


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real Celery worker process on the Redis broker, sharing the test database.

    Tasks sent by the test process really travel through Redis to another process, which
    sees only committed rows (hence transactional_db).
    """
    import os
    import subprocess
    import sys
    import time

    from django.db import connection

    from sandbox.celery import app

    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    broker = services.redis_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SANDBOX_DATA_DIR": str(settings.DATA_DIR),
        "TENANT_FILES_DIR": str(settings.TENANT_FILES_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    # A private queue per run, so that a stray worker of another run cannot take the tasks.
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "sandbox",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
            "--queues",
            queue,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    previous = (app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    app.conf.task_default_queue = queue
    try:
        deadline = time.monotonic() + 30
        inspector = app.control.inspect(timeout=1)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"The Celery worker exited at start:\n{process.stdout.read()}")
            if inspector.ping():
                break
        else:
            pytest.fail("The Celery worker did not answer a ping within 30 s.")
        yield process
    finally:
        app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue = previous
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
