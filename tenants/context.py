"""
The active tenant of the current request or task.

A context variable rather than a thread-local so that it is correct under threads (gunicorn
gthread, Celery's threads pool) and asyncio alike. Whoever activates a tenant must deactivate
it in `finally`: worker threads are reused, and a leaked tenant would serve the next request.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection, transaction

_current_tenant = ContextVar("current_tenant", default=None)


class TenantNotActive(RuntimeError):
    """A tenant-owned model was queried while no tenant was active (fail closed)."""


def current_tenant():
    return _current_tenant.get()


def require_tenant():
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantNotActive(
            "No tenant is active. Run tenant-owned queries inside tenant_scope(tenant), "
            "or use the model's `unscoped` manager in portal code that checked access itself."
        )
    return tenant


def activate(tenant):
    """Make `tenant` active; returns the token for deactivate()."""
    return _current_tenant.set(tenant)


def deactivate(token):
    _current_tenant.reset(token)


@contextmanager
def _rls_transaction():
    """
    One transaction for a tenant scope. The outermost scope's row-level-security setting ends
    with its transaction; only a nested scope (a scope inside a job's transaction, or a request
    inside a test's) has an outer setting to remember and put back, which would otherwise
    outlive the block. A block that raised or was marked for rollback is rolled back, and the
    setting with it.
    """
    from tenants import rls, row_lookup

    nested = connection.in_atomic_block
    with transaction.atomic():
        previous = rls.current_tenant(connection) if nested else None
        yield
        if not connection.needs_rollback:
            if nested:
                rls.restore(connection, previous)
            else:
                row_lookup.commit()


@contextmanager
def tenant_scope(tenant):
    """
    Run a block as `tenant`: tenant-owned managers filter by it, and on PostgreSQL the block
    is one transaction whose row-level-security setting names it.

    Long jobs should open one short scope per chunk rather than one scope around all the work,
    so that progress commits as it happens and SQLite's writer lock is not held for minutes.
    """
    from tenants import rls

    token = activate(tenant)
    try:
        with _rls_transaction():
            rls.set_tenant(connection, tenant.pk)
            yield tenant
    finally:
        deactivate(token)


@contextmanager
def request_tenant_scope(slug, request=None):
    """
    The tenant_scope of one request to /t/<slug>/: yields the Tenant with this slug (None when
    there is none) inside the request's atomic block and, when found, the tenant active.

    Naming the tenant for row-level security and finding it take one round trip, and the
    lookups other apps registered for every request (the bearer token) ride along in it
    (tenants.row_lookup.tenant_for_request). On PostgreSQL the transaction itself begins when
    a statement first needs it (row_lookup.transaction_on_demand), so a read pays no BEGIN and
    no COMMIT.
    """
    from tenants import row_lookup

    with _rls_transaction():
        tenant = row_lookup.tenant_for_request(slug, request)
        if tenant is None:
            yield None
            return
        token = activate(tenant)
        try:
            with row_lookup.transaction_on_demand(tenant, request):
                yield tenant
        finally:
            deactivate(token)


def tenant_atomic():
    """A tenant_scope for the tenant that is already active (tasks, services)."""
    return tenant_scope(require_tenant())
