import random

from sandbox.seeding.identifiers import NPI_SYSTEM, TIN_SYSTEM, is_valid_npi, make_npi, make_tin, npi_check_digit


def _identifiers(value):
    if isinstance(value, dict):
        if "system" in value and "value" in value and isinstance(value["value"], str):
            yield value["system"], value["value"]
        for item in value.values():
            yield from _identifiers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _identifiers(item)


def test_it_computes_the_cms_example_check_digit():
    """The CMS worked example 123456789 gets check digit 3 (Luhn with the 80840 prefix)."""
    assert npi_check_digit("123456789") == 3
    assert is_valid_npi("1234567893")


def test_it_rejects_npis_with_a_wrong_check_digit_or_shape():
    """A changed check digit, a wrong length or a leading digit other than 1 or 2 fails."""
    assert not is_valid_npi("1234567890")
    assert not is_valid_npi("123456789")
    assert not is_valid_npi("3234567893")


def test_it_makes_valid_npis_and_tins():
    """Generated NPIs pass the check and TINs are nine digits."""
    rng = random.Random(0)
    for _ in range(500):
        assert is_valid_npi(make_npi(rng))
        tin = make_tin(rng)
        assert len(tin) == 9 and tin.isdigit()


def test_it_gives_every_npi_in_the_output_a_valid_check_digit(resources):
    """Every NPI anywhere in the payer's output (organizations, practitioners, lists, payers) passes Luhn."""
    npis = [value for resource in resources for system, value in _identifiers(resource) if system == NPI_SYSTEM]
    assert len(npis) > 20
    assert [npi for npi in npis if not is_valid_npi(npi)] == []


def test_it_gives_payer_and_provider_organizations_npi_and_tin(resources):
    """The payer has NAIC, TIN and NPI; every provider organization has an NPI and a TIN."""
    for organization in (r for r in resources if r["resourceType"] == "Organization"):
        systems = {identifier["system"] for identifier in organization["identifier"]}
        assert NPI_SYSTEM in systems
        if organization["id"] == "payer":
            assert {"urn:oid:2.16.840.1.113883.6.300", TIN_SYSTEM} <= systems
        elif not organization["id"].startswith("prior-payer"):
            assert TIN_SYSTEM in systems
