"""
On PostgreSQL the statements every API request makes (tenants.row_lookup) go straight through
libpq, prepared once per connection, and a request's first round trip begins its transaction,
names the payer for row-level security and finds both the payer and the bearer token. They must
stay exactly as isolating as the ORM, show in query logging, and work unprepared.
"""

import tempfile
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tenants import row_lookup

pytestmark = pytest.mark.postgres

LOOKUP_TABLES = ("tenants_tenant", "oauth_accesstoken", "fhirstore_resource")


def _prepared():
    """This connection's prepared statements (the sandbox's own)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements WHERE starts_with(name, 'sbx_')")
        return sorted(cursor.fetchall())


@contextmanager
def _round_trips():
    """
    What the client sent, from libpq's own trace: the statements of each message that ran
    statements (a simple query, or a pipeline up to its Sync), each prepared one as
    `EXECUTE name <its parameters as traced>`, then how many times the client waited for the
    server (ReadyForQuery messages), preparing included.
    """
    from psycopg import pq

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    seen = []
    with tempfile.TemporaryFile(mode="w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield seen
        finally:
            pgconn.untrace()
            trace.seek(0)
            lines = trace.read().splitlines()
    statements, executes = [], 0
    for line in lines:
        direction, _length, kind, *rest = line.split("\t", 3)
        text = rest[0].strip() if rest else ""
        if direction != "F":
            continue
        if kind == "Query":
            seen.append(text)
        elif kind == "Parse" and text.startswith('"" '):
            statements.append(text[3:])
        elif kind == "Bind" and not text.startswith('"" ""'):
            name, _, parameters = text[4:].partition('" ')
            statements.append(f"EXECUTE {name} {parameters}")
        elif kind == "Execute":
            executes += 1
        elif kind == "Sync":
            if executes:
                seen.append("; ".join(statements))
            statements, executes = [], 0
    seen.append(sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery\t" in line))


def test_a_read_prepares_its_statements_once_per_connection(api, patient):
    api.put_resource(patient)
    assert api.get("Patient/p1").status_code == 200
    prepared = _prepared()
    for table in LOOKUP_TABLES:
        assert any(table in statement for _name, statement in prepared), (table, prepared)

    for _ in range(3):
        assert api.get("Patient/p1").status_code == 200
    assert _prepared() == prepared  # reused, not prepared again


@pytest.mark.django_db(transaction=True)
def test_a_read_takes_one_round_trip(api, patient):
    """The payer's row-level-security setting, the payer, the token and the resource: one message."""
    api.put_resource(patient)
    assert api.get("Patient/p1").status_code == 200  # prepares on this connection

    with _round_trips() as trips:
        response = api.get("Patient/p1")
    assert response.status_code == 200
    assert response.json()["id"] == "p1"
    *queries, count = trips
    assert count == 1, trips
    assert queries[0].startswith("EXECUTE sbx_"), queries
    assert "'Patient'" in queries[0] and "'p1'" in queries[0], queries


@pytest.mark.django_db(transaction=True)
def test_a_search_takes_one_round_trip(api, patient):
    """The payer, its token and the page of matches, in one message once this process knows the payer."""
    api.put_resource(patient)
    params = {"identifier": "http://example.org/member|M-100"}
    assert api.get("Patient", params).status_code == 200

    with _round_trips() as trips:
        bundle = api.get("Patient", params).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["p1"]
    assert bundle["total"] == 1
    *queries, count = trips
    assert count == 1, trips
    # The setting, the payer with its token, the plan mode, the page of matches.
    assert queries[0].count("EXECUTE sbx_") == 4, queries


@pytest.mark.django_db(transaction=True)
def test_a_search_run_ahead_for_the_wrong_payer_is_not_served(api, other_api, tenant, other_tenant, patient):
    """
    The statements run ahead are built for the payer the slug named last time; when the slug now
    names another payer (deleted and created again), their rows are dropped and the search runs.
    """
    api.put_resource(patient)
    other_api.put_resource({**patient, "name": [{"family": "Other"}]})
    params = {"identifier": "http://example.org/member|M-100"}
    assert api.get("Patient", params).status_code == 200
    row_lookup._seen_tenants[tenant.slug] = other_tenant

    with _round_trips() as trips:
        bundle = api.get("Patient", params).json()
    assert [e["resource"]["name"][0]["family"] for e in bundle["entry"]] == ["Ñúñez"]
    *messages, _round_trips_in_all = trips  # the second message's setting may be prepared first
    assert len(messages) == 2, trips
    assert row_lookup._seen_tenants[tenant.slug].pk == tenant.pk


@pytest.mark.django_db(transaction=True)
def test_a_restricted_caller_gets_its_own_search_not_the_one_run_ahead(api, patient, monkeypatch):
    """Statements run ahead see every resource; a caller with a restriction sees only its rows."""
    from sandbox.fhirstore import access

    class OnlyP2:
        def filter(self, queryset):
            return queryset.filter(fhir_id="p2")

    api.put_resource(patient)
    api.put_resource({**patient, "id": "p2"})
    assert [e["resource"]["id"] for e in api.get("Patient", {"gender": "female"}).json()["entry"]] == ["p1", "p2"]
    monkeypatch.setattr(access, "_restriction_hooks", [lambda token: OnlyP2()])

    with _round_trips() as trips:
        bundle = api.get("Patient", {"gender": "female"}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["p2"]
    assert bundle["total"] == 1
    *messages, _round_trips_in_all = trips
    assert len(messages) == 2, trips


@pytest.mark.django_db(transaction=True)
def test_a_search_run_ahead_serves_nothing_to_a_caller_refused(api, client, other_tenant, patient):
    from sandbox.oauth.tokens import mint_token
    from tests.fhirstore.conftest import Api

    api.put_resource(patient)
    params = {"identifier": "http://example.org/member|M-100"}
    assert api.get("Patient", params).status_code == 200
    for caller in (
        Api(client, "acme", "not-a-token"),
        Api(client, "acme", mint_token(other_tenant, "system/*.read").token),
        Api(client, "acme"),
    ):
        response = caller.get("Patient", params)
        assert response.status_code == 401, response.content
        assert b"M-100" not in response.content


@pytest.mark.django_db(transaction=True)
def test_a_statement_run_ahead_that_fails_costs_a_round_trip_and_nothing_else(api, patient, monkeypatch):
    class Failing:
        def statements(self, request, tenant):
            return [("SELECT 1 / (SELECT COUNT(*) - COUNT(*) FROM tenants_tenant)", [], False)]

    api.put_resource(patient)
    params = {"identifier": "http://example.org/member|M-100"}
    assert api.get("Patient", params).status_code == 200
    monkeypatch.setattr(row_lookup, "_request_statements", [*row_lookup._request_statements, Failing()])

    with _round_trips() as trips:
        bundle = api.get("Patient", params).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["p1"]
    *messages, _round_trips_in_all = trips
    assert len(messages) == 3, trips
    # Sent again without the statements run ahead, then the search on its own.
    assert [m.count("EXECUTE sbx_") for m in messages] == [5, 2, 2], messages
    # The failed message named no payer beyond itself: the connection is clean for the next request.
    assert api.get("Patient/p1").json()["id"] == "p1"


def test_the_payer_and_its_token_are_found_by_the_requests_first_statement(api, patient):
    api.put_resource(patient)
    with CaptureQueriesContext(connection) as queries:
        assert api.get("Patient/p1").status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    finding_the_payer = [s for s in statements if "tenants_tenant" in s]
    assert len(finding_the_payer) == 1, statements
    assert "set_config('app.tenant_id'" in finding_the_payer[0]
    assert "token_checksum" in finding_the_payer[0]
    assert sum("oauth_accesstoken" in s for s in statements) == 1, statements


def test_a_statement_prepared_for_one_tenant_serves_another_only_its_own_rows(
    api, other_api, client, other_tenant, token, patient
):
    from tests.fhirstore.conftest import Api

    api.put_resource(patient)
    assert api.get("Patient/p1").status_code == 200  # prepared with this tenant's values

    assert other_api.get("Patient/p1").status_code == 404
    # This tenant's token at the other payer is unknown there.
    stolen = Api(client, other_tenant.slug, token)
    response = stolen.get("Patient/p1")
    assert response.status_code == 401
    assert "not known to this payer" in response["WWW-Authenticate"]
    assert api.get("Patient/p1").json()["id"] == "p1"


@pytest.mark.django_db(transaction=True)
def test_statements_work_unprepared_when_the_deployment_turns_preparing_off(api, patient, settings):
    """DB_PREPARED_STATEMENTS=false, for a pooler that cannot keep prepared statements."""
    api.put_resource(patient)
    settings.DB_PREPARED_STATEMENTS = False
    connection.close()  # a fresh connection, with nothing prepared yet

    assert api.get("Patient/p1").json()["id"] == "p1"
    bundle = api.get("Patient", {"identifier": "http://example.org/member|M-100"}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["p1"]
    assert api.get("Patient/p1", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    assert _prepared() == []


def test_a_connection_keeps_only_its_most_recent_statements_prepared(api, patient, monkeypatch):
    monkeypatch.setattr(row_lookup, "PREPARED_PER_CONNECTION", 3)
    api.put_resource(patient)
    searches = [
        {"family": "nunez"},
        {"gender": "female"},
        {"birthdate": "1980-04"},
        {"_id": "p1"},
        {"address-city": "hart"},
    ]
    for params in searches * 2:
        bundle = api.get("Patient", params).json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == ["p1"], params
    assert len(_prepared()) <= 3


@pytest.mark.django_db(transaction=True)
def test_a_statement_inside_an_atomic_block_begins_its_transaction():
    """When Django has opened an atomic block but not yet begun the transaction, BEGIN comes first."""
    with transaction.atomic():
        row_lookup.fetch_one("SELECT set_config('sandbox_test.marker', 'x', true)", [])
        assert row_lookup.fetch_one("SELECT current_setting('sandbox_test.marker', true)", []) == ("x",)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_a_statement_that_fails_in_its_pipeline_raises_its_own_error_and_leaves_the_connection_clean(
    tenant, settings, prepared
):
    """
    The tenant's setting and the statement go in one pipeline: the error raised is the
    statement's, not the pipeline's, and the rolled-back pipeline leaves nothing behind.
    """
    from django.db import DataError

    settings.DB_PREPARED_STATEMENTS = prepared
    with transaction.atomic(), row_lookup.transaction_on_demand(tenant):
        with pytest.raises(DataError, match="division by zero"):
            row_lookup.fetch_all("SELECT 1 / (SELECT COUNT(*) - COUNT(*) FROM tenants_tenant)", [])
        # Nothing began: the next statement names the payer again, in a pipeline of its own.
        assert row_lookup.fetch_one("SELECT current_setting('app.tenant_id', true)", []) == (str(tenant.pk),)
    assert row_lookup.fetch_one("SELECT current_setting('app.tenant_id', true)", []) in {(None,), ("",)}


@pytest.mark.django_db(transaction=True)
def test_a_pipeline_interrupted_before_its_results_closes_its_connection(tenant, monkeypatch):
    """
    A connection lost (or a thread interrupted) while waiting leaves results unread in pipeline
    mode: the connection is closed rather than handed on, and a new one serves the next request.
    """
    import psycopg
    from django.db import OperationalError

    def lost(pgconn, count):
        # The statements were sent; the wait for their results ends before any is read.
        raise psycopg.OperationalError("server closed the connection unexpectedly")
        yield

    row_lookup.fetch_one("SELECT 1", [])
    raw = connection.connection
    with monkeypatch.context() as patch:
        patch.setattr(row_lookup, "_pipeline_results", lost)
        # Outside any atomic block, whose failed rollback would close the connection anyway.
        with pytest.raises(OperationalError, match="server closed"):
            row_lookup.tenant_for_request(tenant.slug)
    assert raw.closed

    connection.close_if_unusable_or_obsolete()  # what Django does when the request ends
    with transaction.atomic(), row_lookup.transaction_on_demand(tenant):
        assert row_lookup.fetch_one("SELECT current_setting('app.tenant_id', true)", []) == (str(tenant.pk),)


def test_placeholders_are_numbered_for_postgresql():
    assert row_lookup._numbered("a = %s AND b LIKE '%%x' AND c = %s") == "a = $1 AND b LIKE '%x' AND c = $2"


@pytest.mark.django_db(transaction=True)
def test_a_search_by_equality_keeps_one_plan_and_a_prefix_search_plans_for_its_values(api, patient):
    """Generic plans where one plan serves every value; the plan mode lasts for its statement only."""
    api.put_resource(patient)
    for _ in range(7):
        assert api.get("Patient", {"identifier": "http://example.org/member|M-100"}).json()["total"] == 1
        assert api.get("Patient", {"family": "nun"}).json()["total"] == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        plans = {statement: (generic, custom) for statement, generic, custom in cursor.fetchall()}
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "auto"
    by_token = [counts for statement, counts in plans.items() if "fhirstore_searchtoken" in statement]
    by_prefix = [counts for statement, counts in plans.items() if "normalized LIKE" in statement]
    assert by_token and all(custom == 0 for _generic, custom in by_token), by_token
    assert by_prefix and all(custom > 0 for _generic, custom in by_prefix), by_prefix
