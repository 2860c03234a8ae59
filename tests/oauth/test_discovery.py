import pytest


@pytest.mark.django_db
def test_it_publishes_smart_configuration_with_tenant_urls(client, tenant):
    response = client.get("/t/acme/fhir/.well-known/smart-configuration", HTTP_ACCEPT="application/fhir+json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["token_endpoint"] == "http://127.0.0.1:8000/t/acme/oauth/token"
    assert doc["registration_endpoint"] == "https://localhost:8443/t/acme/oauth/register"
    assert doc["authorization_endpoint"] == "http://127.0.0.1:8000/t/acme/oauth/authorize"
    assert doc["introspection_endpoint"].endswith("/t/acme/oauth/introspect")
    assert {"client_credentials", "authorization_code"} <= set(doc["grant_types_supported"])
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "private_key_jwt",
        "client_secret_basic",
        "client_secret_post",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    }
    assert doc["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert {"client-confidential-asymmetric", "permission-v1", "permission-v2"} <= set(doc["capabilities"])
    assert {"system/*.read", "system/*.rs"} <= set(doc["scopes_supported"])
    assert doc["tls_client_certificate_bound_access_tokens"] is True


@pytest.mark.django_db
def test_it_points_the_token_endpoint_at_the_tls_listener_when_fetched_there(client, tenant):
    doc = client.get("/t/acme/fhir/.well-known/smart-configuration", HTTP_HOST="localhost:8443").json()
    assert doc["token_endpoint"] == "https://localhost:8443/t/acme/oauth/token"


@pytest.mark.django_db
def test_it_publishes_rfc8414_metadata_under_the_issuer(client, tenant, other_tenant):
    doc = client.get("/t/beta/oauth/.well-known/oauth-authorization-server").json()
    assert doc["issuer"] == "http://127.0.0.1:8000/t/beta/oauth"
    assert doc["token_endpoint"] == "http://127.0.0.1:8000/t/beta/oauth/token"


@pytest.mark.django_db
def test_it_has_no_discovery_for_an_unknown_payer(client):
    assert client.get("/t/nobody/fhir/.well-known/smart-configuration").status_code == 404
