from collections import Counter

ATR = "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/"
CHANGE_TYPES = {"new", "dropped", "changed", "nochange", "cancelled"}


def _extension(element, name):
    return next(e for e in element["extension"] if e["url"] == ATR + name)


def test_it_writes_one_atr_group_per_provider_organization(resources):
    """Every provider organization (not the payers, not pharmacies) has exactly one atr-group list."""
    groups = [r for r in resources if r["resourceType"] == "Group"]
    providers = {r["id"] for r in resources if r["resourceType"] == "Organization" and r["id"].startswith("org-")}
    assert sorted(g["id"].removeprefix("atr-") for g in groups) == sorted(providers)
    for group in groups:
        assert ATR + "atr-group" in group["meta"]["profile"]
        assert (group["type"], group["actual"]) == ("person", True)
        assert _extension(group, "ext-attributionListStatus")["valueCode"] in {"draft", "open", "final"}
        assert _extension(group, "ext-contractValidityPeriod")["valuePeriod"]["start"]


def test_it_attributes_members_once_with_coverage_provider_and_change_type(resources, by_key):
    """Each member is in at most one list, with its own Coverage, an attributed provider and a valid change type."""
    seen = Counter()
    for group in (r for r in resources if r["resourceType"] == "Group"):
        active = 0
        for member in group.get("member", []):
            patient = member["entity"]["reference"]
            seen[patient] += 1
            coverage = by_key[_extension(member, "ext-coverageReference")["valueReference"]["reference"]]
            assert coverage["beneficiary"]["reference"] == patient
            assert _extension(member, "ext-attributedProvider")["valueReference"]["reference"] in by_key
            change = _extension(member, "ext-changeType")["valueCode"]
            assert change in CHANGE_TYPES
            assert member["inactive"] == (change == "dropped")
            active += not member["inactive"]
        assert group["quantity"] == active
    assert seen and max(seen.values()) == 1
    assert len(seen) > 0.8 * sum(1 for r in resources if r["resourceType"] == "Patient")
