"""
PostgreSQL row-level security: the second wall behind the tenant-filtering managers.

Every tenant-owned table gets a policy that shows a row only when the transaction-local
setting `app.tenant_id` names its tenant (or `app.rls_bypass` is on, for the few portal and
maintenance paths that must see every tenant). With no setting a query sees nothing: a
forgotten scope fails closed. The policy is FORCEd so that it also binds the table owner;
superusers bypass RLS whatever is done, so the application must connect as an ordinary role
(docs/deploy.md). On SQLite every function here does nothing.
"""

from contextlib import contextmanager

from django.apps import apps
from django.db import connection, connections, transaction

TENANT_SETTING = "app.tenant_id"
BYPASS_SETTING = "app.rls_bypass"
POLICY_NAME = "tenant_isolation"


def is_postgres(conn):
    return conn.vendor == "postgresql"


def tenant_owned_models():
    from tenants.models import TenantOwned

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwned) and not model._meta.proxy and model._meta.managed
    ]


def _get(conn, name):
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0] or ""


def _set(conn, name, value):
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def set_tenant(conn, tenant_id):
    """Name the tenant for the current transaction (tenants.context keeps an outer one)."""
    if is_postgres(conn):
        _set(conn, TENANT_SETTING, str(tenant_id))


def current_tenant(conn):
    """The transaction's tenant setting ("" when none), for restore(); None on SQLite."""
    return _get(conn, TENANT_SETTING) if is_postgres(conn) else None


def restore(conn, previous):
    if previous is not None and is_postgres(conn):
        _set(conn, TENANT_SETTING, previous)


@contextmanager
def bypass(using="default"):
    """
    See every tenant's rows for the length of one transaction.

    For code that has already decided the caller may (superuser admin, cross-tenant
    maintenance such as pruning expired exports). Never for request handling on behalf of a
    tenant's client.
    """
    conn = connections[using]
    with transaction.atomic(using=using):
        if not is_postgres(conn):
            yield
            return
        previous = _get(conn, BYPASS_SETTING)
        _set(conn, BYPASS_SETTING, "on")
        yield
        if not conn.needs_rollback:
            _set(conn, BYPASS_SETTING, previous)


def policy_sql(table):
    quoted = connection.ops.quote_name(table)
    condition = (
        f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint "
        f"OR current_setting('{BYPASS_SETTING}', true) = 'on'"
    )
    return [
        f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quoted}",
        f"CREATE POLICY {POLICY_NAME} ON {quoted} USING ({condition}) WITH CHECK ({condition})",
    ]


def install_policies(sender=None, using="default", **kwargs):
    """post_migrate handler: (re)create the policy on every tenant-owned table."""
    conn = connections[using]
    if not is_postgres(conn):
        return
    existing = set(conn.introspection.table_names())
    with conn.cursor() as cursor:
        for model in tenant_owned_models():
            table = model._meta.db_table
            if table in existing:
                for statement in policy_sql(table):
                    cursor.execute(statement)


def tables_without_policy(using="default"):
    """Tenant-owned tables that lack the forced policy (used by tests and a system check)."""
    conn = connections[using]
    if not is_postgres(conn):
        return []
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE p.polname = %s AND c.relrowsecurity AND c.relforcerowsecurity",
            [POLICY_NAME],
        )
        protected = {row[0] for row in cursor.fetchall()}
    return sorted(m._meta.db_table for m in tenant_owned_models() if m._meta.db_table not in protected)
