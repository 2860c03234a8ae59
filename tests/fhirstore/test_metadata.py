"""GET [base]/metadata: the generated CapabilityStatement."""

from sandbox.fhirstore.search_parameters import SERVED_TYPES


def test_it_is_public(anonymous):
    """metadata needs no token."""
    response = anonymous.get("metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "CapabilityStatement"


def test_it_names_the_tenant_base_of_the_listener_used(anonymous):
    """implementation.url is the tenant base on the plain and on the TLS listener."""
    plain = anonymous.get("metadata").json()
    assert plain["implementation"]["url"] == "http://testserver/t/acme/fhir"
    tls = anonymous.client.get("/t/acme/fhir/metadata", secure=True, HTTP_HOST="localhost:8443").json()
    assert tls["implementation"]["url"] == "https://localhost:8443/t/acme/fhir"


def test_it_lists_served_types_with_search_parameter_definitions(anonymous):
    """Every served type appears with its parameters and their canonical definitions."""
    statement = anonymous.get("metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(SERVED_TYPES)
    eob = {p["name"]: p for p in resources["ExplanationOfBenefit"]["searchParam"]}
    assert eob["service-date"]["definition"] == (
        "http://hl7.org/fhir/us/carin-bb/SearchParameter/explanationofbenefit-service-date"
    )
    assert eob["patient"]["type"] == "reference"
    basic = {p["name"]: p for p in resources["Basic"]["searchParam"]}
    assert basic["drug-tier"]["definition"] == (
        "http://hl7.org/fhir/us/davinci-drug-formulary/SearchParameter/Basic-drug-tier"
    )
    assert "Basic:formulary" in resources["Basic"]["searchInclude"]
    assert "Provenance:target" in resources["Encounter"]["searchRevInclude"]
    assert {"code": "search-type"} in resources["Patient"]["interaction"]


def test_it_declares_operations_guides_and_smart_security(anonymous, tenant):
    """$everything with its canonical, instantiates per PDex version, SMART oauth-uris."""
    statement = anonymous.get("metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"} in (
        patient["operation"]
    )
    assert "http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server|2.0.0" in statement["instantiates"]
    assert "http://hl7.org/fhir/us/davinci-drug-formulary/CapabilityStatement/usdf-server" in statement["instantiates"]
    security = statement["rest"][0]["security"]
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["token"] == "http://testserver/t/acme/oauth/token"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["software"]["name"]


def test_it_follows_the_tenant_pdex_version(anonymous, tenant):
    """A PDex 2.1 payer instantiates the 2.1 server statements."""
    tenant.pdex_version = "2.1"
    tenant.save()
    statement = anonymous.get("metadata").json()
    assert "http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server|2.1.0" in statement["instantiates"]
    assert "http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server|2.0.0" not in statement["instantiates"]
