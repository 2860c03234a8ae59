"""
On PostgreSQL the lookups every API request makes (tenant, token, resource read) are prepared
statements, planned once per connection (tenants.row_lookup). They must stay exactly as
isolating as unprepared SQL, and stay visible to query logging.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.postgres

LOOKUP_TABLES = ("tenants_tenant", "oauth_accesstoken", "fhirstore_resource")


def _prepared_lookups():
    """The prepared statements of this connection that read one of the lookup tables."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return sorted(s for (s,) in cursor.fetchall() if any(f'"{t}"' in s or f" {t} " in s for t in LOOKUP_TABLES))


def test_a_read_prepares_its_lookups_once_per_connection(api, patient):
    api.put_resource(patient)
    assert api.get("Patient/p1").status_code == 200
    prepared = _prepared_lookups()
    for table in LOOKUP_TABLES:
        assert any(table in statement for statement in prepared), (table, prepared)

    for _ in range(3):
        assert api.get("Patient/p1").status_code == 200
    assert _prepared_lookups() == prepared  # reused, not prepared again


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


def test_query_logging_shows_the_lookups_sql(api, patient, token):
    api.put_resource(patient)
    with CaptureQueriesContext(connection) as queries:
        assert api.get("Patient/p1").status_code == 200
    token_lookups = [q["sql"] for q in queries.captured_queries if q["sql"] and "oauth_accesstoken" in q["sql"]]
    assert len(token_lookups) == 1
    assert "token_checksum" in token_lookups[0]


@pytest.mark.django_db(transaction=True)
def test_lookups_work_unprepared_when_the_deployment_turns_preparing_off(api, patient, monkeypatch):
    """DB_PREPARED_STATEMENTS=false, for a pooler that cannot keep prepared statements."""
    api.put_resource(patient)
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "prepare_threshold")
    connection.close()  # the next connection is opened with the changed options

    assert api.get("Patient/p1").json()["id"] == "p1"
    bundle = api.get("Patient", {"identifier": "http://example.org/member|M-100"}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["p1"]
    assert _prepared_lookups() == []
