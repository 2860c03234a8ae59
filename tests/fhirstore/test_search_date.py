"""Date search: every prefix, precision ranges, periods, _lastUpdated and bad input."""

import pytest

from tests.fhirstore.test_search_token import ids


@pytest.fixture
def encounters(api):
    periods = {
        "day": {"start": "2024-03-10T09:00:00Z", "end": "2024-03-10T17:00:00Z"},
        "month": {"start": "2024-03-01", "end": "2024-03-31"},
        "open": {"start": "2024-06-01"},
        "old": {"start": "2020-01-01", "end": "2020-01-02"},
    }
    for fid, period in periods.items():
        api.put_resource(
            {
                "resourceType": "Encounter",
                "id": fid,
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": "Patient/p1"},
                "period": period,
            }
        )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2024-03-10", ["day"]),
        ("eq2024-03", ["day", "month"]),
        ("2024", ["day", "month"]),
        ("ne2024-03", ["old", "open"]),
        ("gt2024-04-01", ["open"]),
        ("lt2024-03-05", ["month", "old"]),
        ("ge2024-03-31", ["month", "open"]),
        ("le2020-01-01", ["old"]),
        ("sa2024-03-31", ["open"]),
        ("eb2024-01-01", ["old"]),
        # ap allows 10% of the distance to now, which reaches June 2024 from late 2026.
        ("ap2024-03-10", ["day", "month", "open"]),
        ("2024-03-10T12:00:00Z", []),
        ("ge2024-03-10T12:00:00+02:00", ["day", "month", "open"]),
    ],
)
def test_it_applies_prefixes_to_ranges(api, encounters, query, expected):
    """Prefixes compare the value's precision range with the period (FHIR search.html#date)."""
    assert ids(api.get("Encounter", {"date": query})) == expected


def test_it_ands_a_range(api, encounters):
    """date=ge..&date=le.. is a range."""
    assert ids(api.get("Encounter?date=ge2024-03-01&date=le2024-03-31")) == ["day", "month"]


def test_it_searches_dates_on_plain_date_elements(api, patient):
    """birthdate matches the day, month and year."""
    api.put_resource(patient)
    for value in ("1980-04-15", "1980-04", "1980", "gt1980-04-14", "lt1980-04-16"):
        assert ids(api.get("Patient", {"birthdate": value})) == ["p1"], value
    assert ids(api.get("Patient", {"birthdate": "1980-04-16"})) == []


def test_it_searches_last_updated(api, patient):
    """_lastUpdated compares with meta.lastUpdated."""
    stored = api.put_resource(patient)
    when = stored["meta"]["lastUpdated"]
    assert ids(api.get("Patient", {"_lastUpdated": f"ge{when[:10]}"})) == ["p1"]
    assert ids(api.get("Patient", {"_lastUpdated": f"lt{when[:10]}"})) == []
    assert ids(api.get("Patient", {"_lastUpdated": when})) == ["p1"]


@pytest.mark.parametrize("value", ["2024-13-01", "yesterday", "xx2024-01-01", "2024-01-01T25:00:00Z", "20240101"])
def test_it_rejects_bad_dates_and_prefixes(api, encounters, value):
    """A bad date or prefix is 400 naming the parameter."""
    response = api.get("Encounter", {"date": value})
    assert response.status_code == 400, value
    assert response.json()["issue"][0]["expression"] == ["date"]


def test_it_tolerates_an_unencoded_plus_in_offsets(api, encounters):
    """date=ge2024-03-10T12:00:00+02:00 sent without %2B still means +02:00."""
    response = api.client.get("/t/acme/fhir/Encounter?date=ge2024-03-10T12:00:00+02:00", **api.headers)
    assert ids(response) == ["day", "month", "open"]
