"""ATR $member-add, $member-remove, $confirm-attribution-list and $attribution-status, versioned."""

from sandbox.attribution.models import AttributionChange
from sandbox.oauth.tokens import mint_token
from tests.attribution.conftest import ATR, MEMBER_SYSTEM, NPI, NPI_A, Fhir, ids, ref


def members(group, active_only=True):
    return sorted(
        m["entity"]["reference"].split("/")[1]
        for m in group.get("member", [])
        if not (active_only and m.get("inactive"))
    )


def change_type(group, pid):
    entry = next(m for m in group["member"] if m["entity"]["reference"] == f"Patient/{pid}")
    return next(e["valueCode"] for e in entry["extension"] if e["url"] == ATR + "ext-changeType")


def status(group):
    return next(e["valueCode"] for e in group["extension"] if e["url"] == ATR + "ext-attributionListStatus")


def test_it_adds_a_covered_member_by_member_id_and_npi(provider_a, data, in_tenant):
    """memberId + providerNpi: a new version with the member (changeType new, Coverage, provider), logged."""
    response = provider_a.operation(
        "Group/atr-a/$member-add",
        memberId={"valueIdentifier": {"system": MEMBER_SYSTEM, "value": "M5"}},
        providerNpi={"valueIdentifier": {"system": NPI, "value": NPI_A}},
        attributionPeriod={"valuePeriod": {"start": "2026-02-01", "end": "2026-12-31"}},
    )
    assert response.status_code == 200, response.content
    group = response.json()
    assert group["meta"]["versionId"] == "2" and response["ETag"] == 'W/"2"'
    # p3 opted out: providers never see it on their lists.
    assert members(group) == ["p1", "p2", "p5"] and group["quantity"] == 3
    assert change_type(group, "p5") == "new"
    entry = group["member"][-1]
    assert entry["period"] == {"start": "2026-02-01", "end": "2026-12-31"}
    extensions = {e["url"].rsplit("/", 1)[1]: e.get("valueReference") for e in entry["extension"]}
    assert extensions["ext-coverageReference"] == {"reference": "Coverage/cov-p5"}
    assert extensions["ext-attributedProvider"] == {"reference": "Organization/org-a"}
    # The new member is now attributed to A.
    assert provider_a.get("Patient/p5").status_code == 200
    with in_tenant(data):
        change = AttributionChange.objects.get()
    assert (change.group_id, change.operation, change.patient_id, change.version_id) == ("atr-a", "member-add", "p5", 2)
    assert change.organization_npi == NPI_A and change.actor.startswith("client ")


def test_it_adds_with_patient_and_practitioner_references(provider_a):
    """patientReference + providerReference to a practitioner of the caller's organization."""
    response = provider_a.operation(
        "Group/atr-a/$member-add", patientReference=ref("Patient/p5"), providerReference=ref("Practitioner/dr-a")
    )
    assert response.status_code == 200, response.content
    assert members(response.json()) == ["p1", "p2", "p5"]


def test_it_refuses_an_uncovered_member_with_a_reason(provider_a):
    """422 business-rule naming the member: the payer does not cover p6."""
    response = provider_a.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p6"))
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["code"] == "business-rule" and "Patient/p6 has no active coverage" in issue["diagnostics"]
    assert provider_a.get("Group/atr-a").json()["meta"]["versionId"] == "1"


def test_it_refuses_another_organizations_practitioner(provider_a):
    response = provider_a.operation(
        "Group/atr-a/$member-add", patientReference=ref("Patient/p5"), providerReference=ref("Practitioner/dr-b")
    )
    assert response.status_code == 422
    assert "not part of the calling provider organization" in response.json()["issue"][0]["diagnostics"]


def test_it_refuses_changes_to_a_final_list(provider_a):
    """A final list takes no $member-add or $member-remove (422 with the reason)."""
    for operation in ("member-add", "member-remove"):
        response = provider_a.operation(f"Group/atr-a-final/${operation}", patientReference=ref("Patient/p1"))
        assert response.status_code == 422, operation
        assert "is final" in response.json()["issue"][0]["diagnostics"]


def test_it_refuses_bad_parameters(provider_a):
    """400 OperationOutcome for a wrong value type, an unknown parameter or no member."""
    assert provider_a.operation("Group/atr-a/$member-add", memberId=ref("Patient/p5")).status_code == 400
    assert provider_a.operation("Group/atr-a/$member-add", foo={"valueString": "x"}).status_code == 400
    assert provider_a.post("Group/atr-a/$member-add", {"resourceType": "Parameters"}).status_code == 400
    assert provider_a.post("Group/atr-a/$member-add", {"resourceType": "Patient"}).status_code == 400


def test_it_marks_a_removed_member_inactive_on_a_draft_list(provider_b):
    """Draft: the member stays listed, inactive with changeType dropped, and is no longer attributed."""
    assert provider_b.get("Patient/p4").status_code == 200
    response = provider_b.operation(
        "Group/atr-b/$member-remove", memberId={"valueIdentifier": {"system": MEMBER_SYSTEM, "value": "M4"}}
    )
    assert response.status_code == 200, response.content
    group = response.json()
    assert members(group, active_only=False) == ["p4"] and members(group) == []
    assert change_type(group, "p4") == "dropped" and group["quantity"] == 0
    assert provider_b.get("Patient/p4").status_code == 404


def test_it_removes_a_member_from_an_open_list(provider_a):
    response = provider_a.operation("Group/atr-a/$member-remove", patientReference=ref("Patient/p2"))
    assert response.status_code == 200
    assert members(response.json(), active_only=False) == ["p1"]
    assert provider_a.get("Patient/p2").status_code == 404


def test_it_refuses_to_remove_a_member_who_is_not_listed(provider_a):
    response = provider_a.operation("Group/atr-a/$member-remove", patientReference=ref("Patient/p5"))
    assert response.status_code == 422
    assert response.json()["issue"][0]["code"] == "not-found"


def test_it_confirms_a_list_as_final_and_prunes_inactive_members(provider_b):
    """$confirm-attribution-list: 201, status final, inactive members pruned; then no more changes."""
    provider_b.operation("Group/atr-b/$member-remove", patientReference=ref("Patient/p4"))
    response = provider_b.post("Group/atr-b/$confirm-attribution-list")
    assert response.status_code == 201, response.content
    group = response.json()
    assert status(group) == "final" and members(group, active_only=False) == []
    assert group["meta"]["versionId"] == "3"
    refused = provider_b.operation("Group/atr-b/$member-add", patientReference=ref("Patient/p4"))
    assert refused.status_code == 422
    # Confirming again changes nothing.
    assert provider_b.post("Group/atr-b/$confirm-attribution-list").json()["meta"]["versionId"] == "3"


def test_it_reports_a_members_attribution_status(provider_a):
    """$attribution-status: a collection Bundle with the Patient and its Coverage."""
    response = provider_a.operation("Group/atr-a/$attribution-status", patientReference=ref("Patient/p1"))
    assert response.status_code == 200, response.content
    bundle = response.json()
    assert bundle["type"] == "collection" and ids(bundle) == ["cov-p1", "p1"]
    # Not a member, or opted out: the same refusal, so an opt-out is not revealed.
    for pid in ("p5", "p3"):
        refused = provider_a.operation("Group/atr-a/$attribution-status", patientReference=ref(f"Patient/{pid}"))
        assert refused.status_code == 422, pid


def test_it_shows_changes_with_since_on_the_list(provider_a):
    """Every change is a version: _history?_since and _lastUpdated find it."""
    before = provider_a.get("Group/atr-a-final").json()["meta"]["lastUpdated"]  # loaded last
    provider_a.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p5"))
    provider_a.operation("Group/atr-a/$member-remove", patientReference=ref("Patient/p2"))
    history = provider_a.get("Group/atr-a/_history", {"_since": before}).json()
    versions = sorted(e["resource"]["meta"]["versionId"] for e in history["entry"] if "resource" in e)
    assert "3" in versions and "2" in versions
    assert ids(provider_a.get("Group", {"_lastUpdated": f"gt{before}"}).json()) == ["atr-a"]
    assert members(provider_a.get("Group/atr-a/_history/1").json()) == ["p1", "p2"]


def test_it_needs_a_write_scope_on_group(client, data, system_token):
    fhir = Fhir(client, "acme", system_token(data, NPI_A, scope="system/*.read"))
    response = fhir.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p5"))
    assert response.status_code == 403 and "system/Group.u" in response.json()["issue"][0]["diagnostics"]
    assert fhir.operation("Group/atr-a/$attribution-status", patientReference=ref("Patient/p1")).status_code == 200


def test_it_needs_a_token(client, data):
    response = client.post("/t/acme/fhir/Group/atr-a/$member-add", "{}", content_type="application/fhir+json")
    assert response.status_code == 401


def test_it_lets_the_payers_own_client_edit_any_list(client, data, in_tenant):
    """A payer-side client (no provider tie) reconciles on the payer's behalf; the change log says so."""
    fhir = Fhir(client, "acme", mint_token(data, "system/*.read system/*.write").token)
    response = fhir.operation(
        "Group/atr-b/$member-add", patientReference=ref("Patient/p5"), providerReference=ref("Organization/org-b")
    )
    assert response.status_code == 200, response.content
    with in_tenant(data):
        assert AttributionChange.objects.get().actor.startswith("payer client ")


def test_a_payer_to_payer_client_cannot_use_the_atr_operations(client, data):
    scope = "system/*.read system/*.write http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
    fhir = Fhir(client, "acme", mint_token(data, scope).token)
    assert fhir.operation("Group/atr-a/$attribution-status", patientReference=ref("Patient/p1")).status_code == 403
