from tests.bulk.conftest import ids


def test_it_exports_everything_at_system_level(bulk, data):
    """A system-level export holds every resource, one type per file."""
    out = bulk.export()
    assert ids(out["Patient"]) == ["p0", "p1", "p2"]
    assert ids(out["Organization"]) == ["payer-org", "unreferenced-org"]
    assert len(out["Coverage"]) == 3 and len(out["Observation"]) == 3 and len(out["Group"]) == 1
