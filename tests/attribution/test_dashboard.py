"""Provider-access pages: the payer's overview and changes, the provider's view of its lists and exports."""

from sandbox.attribution.models import AttributionSettings, ProviderClient
from sandbox.oauth.models import ProviderUser
from tests.attribution.conftest import NPI_A, NPI_B, application, ref
from tests.factories import UserFactory


def test_it_shows_the_lists_and_the_changes_providers_made(member_client, provider_a):
    provider_a.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p5"))
    page = member_client.get("/payers/acme/attribution/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Group/atr-a" in body and "Group/atr-b" in body and NPI_B in body
    assert "Patient/p5" in body and "$member-add" in body and "client " in body


def test_it_ties_a_system_client_to_a_provider(member_client, data, in_tenant):
    app = application(data, name="Alpha EHR")
    response = member_client.post(
        "/payers/acme/attribution/clients/",
        {"client_id": app.client_id, "organization_npi": NPI_A, "organization_name": "Alpha"},
    )
    assert response.status_code == 302, response.content
    with in_tenant(data):
        link = ProviderClient.objects.get()
    assert link.application_id == app.pk and link.organization_npi == NPI_A
    bad = member_client.post(
        "/payers/acme/attribution/clients/", {"client_id": app.client_id, "organization_npi": "12"}
    )
    assert bad.status_code == 200  # the form again, with errors
    member_client.post(f"/payers/acme/attribution/clients/{link.pk}/remove/")
    with in_tenant(data):
        assert not ProviderClient.objects.exists()


def test_it_saves_the_data_window(member_client, data, in_tenant):
    response = member_client.post(
        "/payers/acme/attribution/settings/", {"data_window_start": "2018-01-01", "require_since_for_delta": ""}
    )
    assert response.status_code == 302
    with in_tenant(data):
        settings = AttributionSettings.for_tenant(data)
    assert str(settings.data_window_start) == "2018-01-01" and settings.require_since_for_delta is False


def test_it_shows_staff_a_providers_view_with_its_exports(member_client, bulk_a):
    assert bulk_a.kickoff("Group/atr-a/$davinci-data-export").status_code == 202
    page = member_client.get(f"/payers/acme/attribution/providers/{NPI_A}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Group/atr-a" in body and "Group/atr-b" not in body and "$davinci-data-export" in body
    assert "opted out: never exported" in body  # staff see why p3 is left out


def test_provider_staff_see_their_own_lists_without_opt_outs(client, data, in_tenant):
    staff = UserFactory(username="alpha-staff")
    with in_tenant(data):
        ProviderUser.objects.create(user=staff, organization_npi=NPI_A, organization_name="Alpha")
    assert client.get("/t/acme/provider/").status_code == 302  # to the payer's login page
    client.force_login(staff)
    body = client.get("/t/acme/provider/").content.decode()
    assert "Group/atr-a" in body and "Group/atr-b" not in body
    assert "Patient/p1" in body and "Patient/p3" not in body


def test_it_is_not_found_for_non_members(client, data, other_user):
    client.force_login(other_user)
    assert client.get("/payers/acme/attribution/").status_code == 404
    assert client.get(f"/payers/acme/attribution/providers/{NPI_A}/").status_code == 404
    assert client.get("/t/acme/provider/").status_code == 403  # not a provider user of acme


def test_it_records_a_members_opt_out_and_opt_in(member_client, provider_a):
    """The payer records a choice as a pdex-provider-consent Consent; providers stop (or start) seeing the member."""
    assert "Patient/p3" in member_client.get("/payers/acme/attribution/").content.decode()
    assert (
        member_client.post("/payers/acme/attribution/opt-outs/", {"patient_id": "p1", "choice": "deny"}).status_code
        == 302
    )
    assert provider_a.get("Patient/p1").status_code == 404
    member_client.post("/payers/acme/attribution/opt-outs/", {"patient_id": "p3", "choice": "permit"})
    assert provider_a.get("Patient/p3").status_code == 200
    unknown = member_client.post("/payers/acme/attribution/opt-outs/", {"patient_id": "nobody", "choice": "deny"})
    assert unknown.status_code == 200 and "does not exist" in unknown.content.decode()
