"""The CapabilityStatement declares the ATR operations and guides (ATR §6.3, PDex provider access)."""

ATR = "http://hl7.org/fhir/us/davinci-atr/OperationDefinition/"


def test_it_declares_the_atr_operations_on_group(client, tenant):
    statement = client.get("/t/acme/fhir/metadata").json()
    group = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Group")
    operations = {o["name"]: o["definition"] for o in group["operation"]}
    for name in (
        "member-add",
        "member-remove",
        "confirm-attribution-list",
        "attribution-status",
        "davinci-data-export",
    ):
        assert operations[name] == ATR + name
    assert "http://hl7.org/fhir/us/davinci-atr/CapabilityStatement/atr-producer" in statement["instantiates"]
