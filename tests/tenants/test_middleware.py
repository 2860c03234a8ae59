import pytest
from django.urls import get_script_prefix, reverse

from tenants.context import current_tenant
from tenants.models import Tenant


@pytest.mark.django_db
def test_it_serves_a_tenant_under_its_slug_with_tenant_urls(client, tenant):
    response = client.get("/t/acme/")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "acme"
    assert body["fhir_base_url"].endswith("/t/acme/fhir")


@pytest.mark.django_db
def test_it_moves_the_prefix_into_the_script_name_and_resets_it(rf, tenant, settings):
    """reverse() inside a tenant request yields tenant URLs; nothing leaks to the next request."""
    from tenants.middleware import TenantPathMiddleware

    seen = {}

    def view(request):
        seen["reverse"] = reverse("tenant-home", urlconf=settings.TENANT_URLCONF)
        seen["tenant"] = current_tenant()
        seen["script_name"] = request.META["SCRIPT_NAME"]
        seen["path_info"] = request.path_info
        seen["absolute"] = request.build_absolute_uri("/t/acme/fhir/metadata")
        from django.http import HttpResponse

        return HttpResponse("ok")

    TenantPathMiddleware(view)(rf.get("/t/acme/fhir/metadata"))
    assert seen["reverse"] == "/t/acme/"
    assert seen["tenant"] == tenant
    assert seen["script_name"] == "/t/acme"
    assert seen["path_info"] == "/fhir/metadata"
    assert seen["absolute"] == "http://testserver/t/acme/fhir/metadata"
    assert current_tenant() is None
    assert get_script_prefix() == "/"


@pytest.mark.django_db
def test_it_answers_an_unknown_slug_under_fhir_with_an_operation_outcome(client):
    response = client.get("/t/nobody/fhir/Patient/1")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "nobody" in outcome["issue"][0]["diagnostics"]


@pytest.mark.django_db
def test_it_answers_an_unknown_slug_under_oauth_with_json(client):
    response = client.post("/t/nobody/oauth/token", {"grant_type": "client_credentials"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_it_does_not_route_tenant_paths_at_the_root(client, tenant):
    """The tenant URLconf exists only under /t/<slug>/."""
    assert client.get("/fhir/metadata").status_code == 404


@pytest.mark.django_db
def test_it_tells_clients_a_payer_is_still_being_created(client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.PROVISIONING)
    response = client.get("/t/acme/fhir/metadata")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "still being created" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.django_db
def test_it_rolls_back_what_a_failing_tenant_request_wrote(client, tenant, settings):
    """A request that ends in a 5xx leaves no half-written rows behind."""
    from tenants.context import tenant_scope
    from tenants.models import TenantJob

    settings.TENANT_URLCONF = "tests.tenants.failing_urls"
    assert client.get("/t/acme/write-then-fail").status_code == 500
    with tenant_scope(tenant):
        assert not TenantJob.objects.filter(message="half-done").exists()


@pytest.mark.django_db
def test_it_takes_a_transaction_posted_to_the_base_without_a_slash(member_client, tenant):
    """No redirect (which would drop the body) and no 500 from APPEND_SLASH."""
    import json

    bundle = {"resourceType": "Bundle", "type": "batch", "entry": []}
    response = member_client.post("/t/acme/fhir", json.dumps(bundle), content_type="application/fhir+json")
    assert response.status_code == 200, response.content
    assert response.json()["type"] == "batch-response"
