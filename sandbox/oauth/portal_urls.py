"""Dashboard pages of the OAuth app, under /payers/<slug>/clients/."""

from django.urls import path

from sandbox.oauth import dashboard

urlpatterns = [
    path("", dashboard.clients, name="oauth-clients"),
    path("register/", dashboard.register_client, name="oauth-client-register"),
    path("<str:client_id>/revoke/", dashboard.revoke_client, name="oauth-client-revoke"),
    path("mint/", dashboard.mint, name="oauth-mint-token"),
    path("token-lifetime/", dashboard.token_lifetime, name="oauth-token-lifetime"),
    path("provider-users/", dashboard.add_provider_user, name="oauth-provider-user-add"),
    path(
        "provider-users/<int:provider_user_id>/remove/",
        dashboard.remove_provider_user,
        name="oauth-provider-user-remove",
    ),
]
