import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tenants.context import tenant_scope
from tenants.models import Invitation, Membership, Tenant, TenantJob
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@pytest.mark.django_db
def test_it_signs_up_a_user_and_shows_their_empty_dashboard(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "dana",
            "email": "dana@example.test",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert get_user_model().objects.filter(username="dana").exists()
    assert b"My simulated payers" in response.content
    assert b"You have no simulated payers yet" in response.content


@pytest.mark.django_db
def test_it_signs_in_with_a_password(client, user):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}, follow=True
    )
    assert response.context["user"] == user


@pytest.mark.django_db
def test_it_lists_only_the_users_own_payers(member_client, tenant, other_tenant):
    response = member_client.get(reverse("dashboard"))
    assert b"Acme Health" in response.content
    assert b"Beta Health" not in response.content


@pytest.mark.django_db
def test_it_creates_a_payer_through_a_celery_job_and_shows_it_ready(
    member_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = member_client.post(
            reverse("payer-create"), {"name": "Gamma Health", "slug": "", "pdex_version": "2.1"}, follow=True
        )
    assert len(callbacks) == 1  # the job is sent only once the payer row is committed
    tenant = Tenant.objects.get(slug="gamma-health")
    assert tenant.pdex_version == "2.1"
    assert tenant.status == Tenant.Status.READY  # eager Celery ran the job at commit
    assert Membership.objects.get(tenant=tenant, user=user).role == Membership.Role.OWNER
    with tenant_scope(tenant):
        job = TenantJob.objects.get()
    assert job.status == TenantJob.Status.SUCCEEDED and job.progress == 100
    assert response.redirect_chain[-1][0] == reverse("payer-detail", args=["gamma-health"])
    assert b"http://127.0.0.1:8000/t/gamma-health/fhir" in response.content


@pytest.mark.django_db
def test_it_shows_the_connection_card_with_every_endpoint(member_client, tenant):
    content = member_client.get(reverse("payer-detail", args=["acme"])).content.decode()
    endpoints = tenant.endpoints()
    for key in ("fhir_base_url", "tls_fhir_base_url", "smart_configuration_url", "token_url", "registration_url"):
        assert f'data-copy="{endpoints[key]}"' in content
    card = content[content.index('id="connection-card"') :].split("</section>", 1)[0]
    assert card.count('class="copy"') == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    "slug, message",
    [
        ("Bad Slug", "Use lowercase letters"),
        ("admin", "reserved"),
        ("ab", "3 to 40"),
        ("acme", "already taken"),
    ],
)
def test_it_refuses_a_bad_or_taken_slug_and_creates_nothing(member_client, tenant, slug, message):
    before = Tenant.objects.count()
    response = member_client.post(reverse("payer-create"), {"name": "X Health", "slug": slug, "pdex_version": "2.0"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Tenant.objects.count() == before


@pytest.mark.django_db
def test_it_creates_one_payer_when_the_form_is_posted_twice(member_client):
    data = {"name": "Delta Health", "slug": "delta", "pdex_version": "2.0"}
    member_client.post(reverse("payer-create"), data)
    second = member_client.post(reverse("payer-create"), data)
    assert Tenant.objects.filter(slug="delta").count() == 1
    assert "already taken" in second.content.decode()


@pytest.mark.django_db
def test_it_requires_sign_in_for_the_portal(client, tenant):
    response = client.get(reverse("payer-detail", args=["acme"]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, name, extra",
    [
        ("get", "payer-detail", []),
        ("get", "payer-progress", []),
        ("post", "payer-retry", []),
        ("post", "payer-invite", []),
        ("get", "payer-delete", []),
        ("post", "payer-delete", []),
    ],
)
def test_it_answers_404_to_a_non_member_for_every_payer_page(client, tenant, other_user, method, name, extra):
    client.force_login(other_user)
    response = getattr(client, method)(reverse(name, args=["acme", *extra]), {"who": "charlie", "confirm_slug": "acme"})
    assert response.status_code == 404
    assert Tenant.objects.filter(slug="acme").exists()
    assert not Membership.objects.filter(tenant=tenant, user=other_user).exists()


@pytest.mark.django_db
def test_it_reports_provisioning_progress_as_json(member_client, tenant):
    with tenant_scope(tenant):
        TenantJob.objects.create(kind=TenantJob.Kind.PROVISION, status="running", progress=40, message="Seeding")
    body = member_client.get(reverse("payer-progress", args=["acme"])).json()
    assert body["status"] == "ready"
    assert body["job"]["progress"] == 40 and body["job"]["message"] == "Seeding"


@pytest.mark.django_db
def test_it_invites_an_existing_user_by_username_or_email(member_client, tenant):
    bob = UserFactory(username="bob", email="bob@example.test")
    member_client.post(reverse("payer-invite", args=["acme"]), {"who": "bob"})
    assert Membership.objects.filter(tenant=tenant, user=bob, role="member").exists()

    erin = UserFactory(username="erin", email="Erin@Example.test")
    member_client.post(reverse("payer-invite", args=["acme"]), {"who": "erin@example.test"})
    assert Membership.objects.filter(tenant=tenant, user=erin).exists()


@pytest.mark.django_db
def test_it_lets_an_invited_teammate_use_the_payer(client, tenant):
    bob = UserFactory(username="bob")
    client.force_login(bob)
    assert client.get(reverse("payer-detail", args=["acme"])).status_code == 404
    MembershipFactory(tenant=tenant, user=bob, role="member")
    assert client.get(reverse("payer-detail", args=["acme"])).status_code == 200


@pytest.mark.django_db
def test_it_keeps_an_email_invitation_until_that_person_signs_up(member_client, client, tenant):
    member_client.post(reverse("payer-invite", args=["acme"]), {"who": "newcomer@example.test"})
    assert Invitation.objects.filter(tenant=tenant, email="newcomer@example.test").exists()
    member_client.logout()
    client.post(
        reverse("signup"),
        {
            "username": "newcomer",
            "email": "newcomer@example.test",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert Membership.objects.filter(tenant=tenant, user__username="newcomer").exists()
    assert not Invitation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who, message",
    [("nobody-by-that-name", "No user is named"), ("alice", "already a member"), ("not-an-email@", "valid email")],
)
def test_it_explains_a_bad_invitation_and_changes_nothing(member_client, tenant, who, message):
    before = (Membership.objects.count(), Invitation.objects.count())
    response = member_client.post(reverse("payer-invite", args=["acme"]), {"who": who}, follow=True)
    assert message in response.content.decode()
    assert (Membership.objects.count(), Invitation.objects.count()) == before


@pytest.mark.django_db
def test_it_deletes_a_payer_with_all_its_rows_and_files_after_confirmation(member_client, tenant):
    tenant.files_dir.mkdir(parents=True, exist_ok=True)
    (tenant.files_dir / "export.ndjson").write_text("{}\n")
    with tenant_scope(tenant):
        TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)

    refused = member_client.post(reverse("payer-delete", args=["acme"]), {"confirm_slug": "acm"})
    assert refused.status_code == 200 and b"Type acme to confirm" in refused.content
    assert Tenant.objects.filter(slug="acme").exists()

    member_client.post(reverse("payer-delete", args=["acme"]), {"confirm_slug": "acme"})
    assert not Tenant.objects.filter(slug="acme").exists()
    assert not TenantJob.unscoped.filter(tenant_id=tenant.pk).exists()
    assert not Membership.objects.filter(tenant_id=tenant.pk).exists()
    assert not tenant.files_dir.exists()
    assert member_client.get(reverse("payer-detail", args=["acme"])).status_code == 404
    assert member_client.get("/t/acme/fhir/metadata").status_code == 404


@pytest.mark.django_db
def test_it_lets_only_owners_delete(client, tenant):
    bob = UserFactory(username="bob")
    MembershipFactory(tenant=tenant, user=bob, role="member")
    client.force_login(bob)
    assert client.post(reverse("payer-delete", args=["acme"]), {"confirm_slug": "acme"}).status_code == 403
    assert Tenant.objects.filter(slug="acme").exists()


@pytest.mark.django_db
def test_it_keeps_the_last_owner(member_client, tenant, user):
    membership = Membership.objects.get(tenant=tenant, user=user)
    response = member_client.post(reverse("payer-remove-member", args=["acme", membership.pk]), follow=True)
    assert "last owner" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.django_db
def test_it_removes_a_member_who_then_gets_404(member_client, client, tenant):
    bob = UserFactory(username="bob")
    membership = MembershipFactory(tenant=tenant, user=bob, role="member")
    member_client.post(reverse("payer-remove-member", args=["acme", membership.pk]))
    client.force_login(bob)
    assert client.get(reverse("payer-detail", args=["acme"])).status_code == 404


@pytest.mark.django_db
def test_it_does_not_remove_another_payers_membership(member_client, tenant, other_tenant, other_user):
    theirs = Membership.objects.get(tenant=other_tenant, user=other_user)
    response = member_client.post(reverse("payer-remove-member", args=["acme", theirs.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_unused_factory_import_guard():
    """TenantFactory builds a ready payer by default (other tests rely on it)."""
    assert TenantFactory._meta.declarations["status"] == Tenant.Status.READY
