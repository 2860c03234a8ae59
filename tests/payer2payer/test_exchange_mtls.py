"""
A full payer-to-payer exchange between two payers of one sandbox over real mutual TLS: the new
payer finds the old one in the directory, opens mTLS with its client certificate (verifying the
listener's server certificate), registers by DCR, gets a token, matches the member, pulls the
data and stores it with Provenance; a second run stores nothing new.
"""

import json

import pytest

from tests.trust.listener import Listener

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def listener():
    running = Listener()
    running.env["SANDBOX_TLS_PUBLIC_URL"] = f"https://localhost:{running.port}"
    running.env["SANDBOX_PUBLIC_URL"] = "http://localhost:1"
    running.start()
    try:
        running.member = running.call("p2p_pair", "old-payer", "new-payer")["member"]
        yield running
    finally:
        running.stop()


def _verdicts(run):
    return [(s["title"], s["verdict"], s["explanation"]) for s in run["steps"]]


def test_it_pulls_a_members_history_from_another_payer(listener):
    run = listener.call("p2p_exchange", "new-payer", "old-payer", listener.member)
    assert run["status"] == "succeeded", _verdicts(run)
    assert run["stored"] > 5

    titles = [s["title"] for s in run["steps"]]
    assert any("Dynamic Client Registration" in t for t in titles)
    exchanges = [x for s in run["steps"] for x in s["exchanges"]]
    assert {x["method"] + " " + x["url"].split("/t/old-payer")[1].split("?")[0] for x in exchanges} >= {
        "GET /fhir/.well-known/smart-configuration",
        "POST /oauth/register",
        "POST /oauth/token",
        "POST /fhir/Patient/$member-match",
    }
    assert all(x["status"] in (200, 201) for x in exchanges)
    assert all(x["request_headers"].get("Authorization") in (None, "(redacted)") for x in exchanges)

    received = listener.call("p2p_received", "new-payer", "p2p-old-payer-")
    assert received["counts"].get("Encounter", 0) > 0
    assert "Patient" not in received["counts"]
    provenance = json.loads(received["provenance"][0])
    assert provenance["agent"][0]["who"]["display"] == "Old Payer"
    assert provenance["agent"][0]["type"]["coding"][0]["code"] == "transmitter"
    assert {"reference": f"Patient/{listener.member}"} in provenance["target"]

    again = listener.call("p2p_exchange", "new-payer", "old-payer", listener.member)
    assert again["status"] == "succeeded", _verdicts(again)
    assert again["stored"] == 0
    assert again["unchanged"] == run["stored"]
    assert listener.call("p2p_received", "new-payer", "p2p-old-payer-") == received


def test_it_uses_bulk_member_match_and_data_export_with_a_pdex_2_1_payer(listener):
    listener.call("p2p_pair", "bulk-payer", "new-payer", 6, "2.1")
    run = listener.call("p2p_exchange", "new-payer", "bulk-payer", listener.member)
    assert run["status"] == "succeeded", _verdicts(run)
    titles = [s["title"] for s in run["steps"]]
    assert "Match the member in bulk ($bulk-member-match)" in titles
    assert "Export the member's data ($davinci-data-export, payertopayer)" in titles
    assert not any("Patient/$everything" in t for t in titles)
    received = listener.call("p2p_received", "new-payer", "p2p-bulk-payer-")
    assert received["counts"].get("Encounter", 0) > 0

    again = listener.call("p2p_exchange", "new-payer", "bulk-payer", listener.member)
    assert again["status"] == "succeeded", _verdicts(again)
    assert again["stored"] == 0


def test_it_explains_a_member_without_earlier_coverage(listener):
    run = listener.call("p2p_exchange", "new-payer", "old-payer", "pat-000002")
    assert run["status"] == "failed"
    failed = [s for s in run["steps"] if s["verdict"] == "fail"][0]
    assert "no earlier Coverage at Old Payer" in failed["explanation"]


def test_it_refuses_to_exchange_with_itself(listener):
    run = listener.call("p2p_exchange", "new-payer", "new-payer", listener.member)
    assert run["status"] == "failed"
    assert "cannot exchange with itself" in run["summary"]
