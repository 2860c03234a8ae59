"""Create the non-superuser role the PostgreSQL test pass connects as (idempotent).

Usage: python -m bin.postgres_role ADMIN_URL ROLE. Prints why and exits 0 when PostgreSQL is
not reachable, so that `make test` can report the PostgreSQL pass as skipped.
"""

import sys

import psycopg
from psycopg import sql


def main(admin_url, role):
    try:
        with psycopg.connect(admin_url, connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(role))
                )
                print(f"Created PostgreSQL role {role}.")
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL is not reachable at {admin_url}: {str(exc).strip()}")
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
