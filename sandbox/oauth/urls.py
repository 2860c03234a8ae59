from django.urls import path

from sandbox.oauth import views

app_name = "oauth2_provider"

urlpatterns = [
    path("token", views.TokenView.as_view(), name="token"),
    path("introspect", views.IntrospectView.as_view(), name="introspect"),
    path("revoke", views.RevokeView.as_view(), name="revoke-token"),
    path(".well-known/oauth-authorization-server", views.authorization_server_metadata, name="oauth-metadata"),
]
