"""
The US Drug Formulary searches of the Inferno test kit (spec/formulary.md §7) against the IG's
own examples, without a token (public formulary), by GET and by POST _search.
"""

from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.django_db

BASE = "/t/acme/fhir"
FHIR = "application/fhir+json"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
USDF_CS = "http://hl7.org/fhir/us/davinci-drug-formulary/CodeSystem"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PRODUCT = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/InsuranceProductTypeCS"


def ids(bundle, mode="match"):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode)


def get(client, resource_type, params):
    response = client.get(f"{BASE}/{resource_type}?{urlencode(params, doseq=True)}", HTTP_ACCEPT=FHIR)
    assert response.status_code == 200, response.content
    return response.json()


def post(client, resource_type, params):
    response = client.post(
        f"{BASE}/{resource_type}/_search",
        urlencode(params, doseq=True),
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT=FHIR,
    )
    assert response.status_code == 200, response.content
    return response.json()


def both(client, resource_type, params):
    """The ids found by GET, after checking that POST _search finds the same."""
    found = ids(get(client, resource_type, params))
    assert ids(post(client, resource_type, params)) == found
    return found


PAYER_PLANS = ["PayerInsurancePlanA1002", "PayerInsurancePlanA3004t"]
FORMULARIES = ["FormularyD1002", "FormularyD3004t"]


def test_it_serves_metadata_without_a_token_instantiating_the_usdf_server(client, tenant):
    statement = client.get(f"{BASE}/metadata").json()
    assert statement["fhirVersion"].startswith("4.0")
    assert "http://hl7.org/fhir/us/davinci-drug-formulary/CapabilityStatement/usdf-server" in statement["instantiates"]
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"InsurancePlan", "Basic", "MedicationKnowledge", "Location"} <= types
    assert any("json" in f for f in statement["format"])


def test_it_serves_the_ig_examples_unchanged_but_for_meta(client, formulary):
    for fhir_id, resource in formulary.items():
        served = client.get(f"{BASE}/{resource['resourceType']}/{fhir_id}").json()
        assert served["meta"]["versionId"] == "1"
        assert {k: v for k, v in served.items() if k != "meta"} == {k: v for k, v in resource.items() if k != "meta"}
        assert served["meta"]["profile"] == resource["meta"]["profile"]


def test_it_finds_payer_plans_and_formularies_by_each_required_parameter(client, formulary):
    assert both(client, "InsurancePlan", {"status": "active"}) == sorted(PAYER_PLANS + FORMULARIES)
    assert both(client, "InsurancePlan", {"_id": "PayerInsurancePlanA1002"}) == ["PayerInsurancePlanA1002"]
    last_updated = client.get(f"{BASE}/InsurancePlan/PayerInsurancePlanA1002").json()["meta"]["lastUpdated"]
    assert "PayerInsurancePlanA1002" in both(client, "InsurancePlan", {"_lastUpdated": last_updated})
    assert both(client, "InsurancePlan", {"identifier": "A1002"}) == ["PayerInsurancePlanA1002"]
    assert both(client, "InsurancePlan", {"period": "gt2020-12-31"}) == sorted(PAYER_PLANS + FORMULARIES)
    assert both(client, "InsurancePlan", {"period": "gt2022-01-01"}) == []
    assert both(client, "InsurancePlan", {"type": "mediadv"}) == PAYER_PLANS
    assert both(client, "InsurancePlan", {"type": f"{PRODUCT}|mediadv"}) == PAYER_PLANS
    assert both(client, "InsurancePlan", {"type": f"{PRODUCT}|commhmo"}) == []
    assert both(client, "InsurancePlan", {"type": f"{PRODUCT}|"}) == PAYER_PLANS  # system-only token
    assert both(client, "InsurancePlan", {"type": f"{ACTCODE}|DRUGPOL"}) == FORMULARIES
    assert both(client, "InsurancePlan", {"name": "Sample Medicare Advantage Plan A1002"}) == [
        "PayerInsurancePlanA1002"
    ]
    assert both(client, "InsurancePlan", {"name": "sample medicare advantage plan"}) == PAYER_PLANS  # prefix, any case
    assert both(client, "InsurancePlan", {"coverage-type": "DRUGPOL"}) == PAYER_PLANS
    assert both(client, "InsurancePlan", {"coverage-type": f"{ACTCODE}|DRUGPOL"}) == PAYER_PLANS


def test_it_finds_by_reference_with_or_without_the_type(client, formulary):
    for value in ("InsurancePlan/FormularyD1002", "FormularyD1002"):
        assert both(client, "InsurancePlan", {"formulary-coverage": value}) == ["PayerInsurancePlanA1002"]
    for value in ("Location/StateOfCTLocation", "StateOfCTLocation"):
        assert both(client, "InsurancePlan", {"coverage-area": value}) == ["PayerInsurancePlanA1002"]
    # A3004t covers Location/UnitedStatesLocation, which is not loaded: the reference still matches.
    assert both(client, "InsurancePlan", {"coverage-area": "UnitedStatesLocation"}) == ["PayerInsurancePlanA3004t"]


def test_it_includes_the_formularies_of_payer_plans_marked_as_includes(client, formulary):
    bundle = get(client, "InsurancePlan", {"coverage-type": "DRUGPOL", "_include": "InsurancePlan:formulary-coverage"})
    assert ids(bundle) == PAYER_PLANS
    assert ids(bundle, "include") == FORMULARIES


def test_it_finds_formulary_items_by_each_required_parameter(client, formulary):
    items_d1002 = [
        "FormularyItem-D1002-1000091",
        "FormularyItem-D1002-1049640",
        "FormularyItem-D1002-209459",
        "FormularyItem-D1002-284520",
    ]
    every_item = sorted(items_d1002 + ["FormularyItem-D3004t-1049640"])
    assert both(client, "Basic", {"code": "formulary-item"}) == every_item
    assert both(client, "Basic", {"code": f"{USDF_CS}/usdf-InsuranceItemTypeCS|formulary-item"}) == every_item
    # Code systems with and without -TEMPORARY-TRIAL-USE are the same system.
    assert (
        both(client, "Basic", {"code": f"{USDF_CS}/usdf-InsuranceItemTypeCS-TEMPORARY-TRIAL-USE|formulary-item"})
        == every_item
    )
    for value in ("MedicationKnowledge/FormularyDrug-1049640", "FormularyDrug-1049640"):
        assert both(client, "Basic", {"subject": value}) == [
            "FormularyItem-D1002-1049640",
            "FormularyItem-D3004t-1049640",
        ]
    for value in ("InsurancePlan/FormularyD1002", "FormularyD1002"):
        assert both(client, "Basic", {"formulary": value}) == items_d1002
    assert both(client, "Basic", {"status": "active"}) == every_item
    assert set(both(client, "Basic", {"period": "ge2021-01-01"})) == set(every_item)
    assert "FormularyItem-D1002-1000091" in both(client, "Basic", {"drug-tier": "generic"})
    assert "FormularyItem-D1002-1000091" in both(client, "Basic", {"drug-tier": f"{USDF_CS}/usdf-DrugTierCS|generic"})
    assert "FormularyItem-D1002-1000091" in both(
        client, "Basic", {"pharmacy-benefit-type": f"{USDF_CS}/usdf-PharmacyBenefitTypeCS|3-month-in-mail"}
    )


def test_it_includes_the_drugs_and_formularies_of_items(client, formulary):
    bundle = get(
        client,
        "Basic",
        {"code": "formulary-item", "formulary": "InsurancePlan/FormularyD1002", "_include": "Basic:subject"},
    )
    assert ids(bundle, "include") == [
        "FormularyDrug-1000091",
        "FormularyDrug-1049640",
        "FormularyDrug-209459",
        "FormularyDrug-284520",
    ]
    bundle = get(
        client,
        "Basic",
        {
            "code": "formulary-item",
            "subject:MedicationKnowledge.code": f"{RXNORM}|1049640",
            "_include": "Basic:formulary",
        },
    )
    assert ids(bundle) == ["FormularyItem-D1002-1049640", "FormularyItem-D3004t-1049640"]
    assert ids(bundle, "include") == FORMULARIES


def test_it_answers_the_queries_of_the_ig_queries_page(client, formulary):
    assert both(
        client,
        "Basic",
        {
            "code": "formulary-item",
            "formulary": "InsurancePlan/FormularyD1002",
            "subject:MedicationKnowledge.drug-name": "doxepin hydrochloride",
        },
    ) == ["FormularyItem-D1002-1000091"]
    assert both(
        client,
        "Basic",
        {
            "code": "formulary-item",
            "subject:MedicationKnowledge.code": f"{RXNORM}|1000091",
        },
    ) == ["FormularyItem-D1002-1000091"]
    assert both(client, "InsurancePlan", {"type": f"{ACTCODE}|DRUGPOL", "identifier": "D1002"}) == ["FormularyD1002"]


def test_it_finds_formulary_drugs_by_each_required_parameter(client, formulary):
    drugs = sorted(k for k in formulary if k.startswith("FormularyDrug-"))
    assert both(client, "MedicationKnowledge", {"status": "active"}) == drugs
    assert both(client, "MedicationKnowledge", {"_id": "FormularyDrug-1000091"}) == ["FormularyDrug-1000091"]
    assert both(client, "MedicationKnowledge", {"code": "1000091"}) == ["FormularyDrug-1000091"]
    assert both(client, "MedicationKnowledge", {"code": f"{RXNORM}|1000091"}) == ["FormularyDrug-1000091"]
    display = formulary["FormularyDrug-1000091"]["code"]["coding"][0]["display"]
    assert both(client, "MedicationKnowledge", {"drug-name": display}) == ["FormularyDrug-1000091"]
    # multipleAnd with :contains (the IG queries page).
    assert both(client, "MedicationKnowledge", {"drug-name:contains": ["doxepin", "cream"]}) == [
        "FormularyDrug-1000091"
    ]


def test_it_finds_plan_locations(client, formulary):
    assert both(client, "Location", {"_id": "StateOfCTLocation"}) == ["StateOfCTLocation"]
    assert both(client, "Location", {"address": "CT"}) == ["StateOfCTLocation"]
    assert both(client, "Location", {"address-state": "CT"}) == ["StateOfCTLocation"]


def test_it_pages_with_absolute_next_links_and_counts(client, formulary):
    first = get(client, "Basic", {"code": "formulary-item", "_count": 2})
    assert first["total"] == 5
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert next_url.startswith("http://testserver/t/acme/fhir/Basic")
    assert get(client, "Basic", {"code": "formulary-item", "_summary": "count"})["total"] == 5


def test_it_keeps_non_formulary_data_private(client, tenant, formulary):
    assert client.get(f"{BASE}/Patient").status_code == 401
    tenant.formulary_public = False
    tenant.save()
    assert client.get(f"{BASE}/InsurancePlan").status_code == 401
