"""The CapabilityStatement declares the export operations as Inferno expects (spec §1.7, §8 B.2)."""

BULK = "http://hl7.org/fhir/uv/bulkdata/"


def test_it_declares_bulk_data_in_the_capability_statement(client, tenant):
    """instantiates bulk-data; operations named export with the canonical definition at each level."""
    statement = client.get("/t/acme/fhir/metadata", HTTP_ACCEPT="application/fhir+json").json()
    assert BULK + "CapabilityStatement/bulk-data" in statement["instantiates"]
    rest = statement["rest"][0]
    assert {"name": "export", "definition": BULK + "OperationDefinition/export"} in rest["operation"]
    resources = {r["type"]: r for r in rest["resource"]}
    assert {"name": "export", "definition": BULK + "OperationDefinition/patient-export"} in resources["Patient"][
        "operation"
    ]
    assert {"name": "export", "definition": BULK + "OperationDefinition/group-export"} in resources["Group"][
        "operation"
    ]
