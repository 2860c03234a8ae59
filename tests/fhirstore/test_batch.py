"""POST [base] with a batch Bundle: entries succeed or fail on their own."""


def test_it_reports_each_entry(api, patient):
    """A failing entry gets its own status and outcome; the others are stored."""
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient, "request": {"method": "PUT", "url": "Patient/p1"}},
            {
                "resource": {"resourceType": "Patient", "birthDate": "bad"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/missing"}},
        ],
    }
    response = api.post("", bundle)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert response.json()["type"] == "batch-response"
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "400"
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["response"]["status"] == "404"
    assert api.get("Patient/p1").status_code == 200
