from django.urls import path

from sandbox.oauth import views
from sandbox.oauth.views import registration
from sandbox.oauth.views.authorize import ProviderAuthorizationView, TenantLoginView, TenantLogoutView

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize", ProviderAuthorizationView.as_view(), name="authorize"),
    path("login", TenantLoginView.as_view(), name="login"),
    path("logout", TenantLogoutView.as_view(), name="logout"),
    path("token", views.TokenView.as_view(), name="token"),
    path("introspect", views.IntrospectView.as_view(), name="introspect"),
    path("revoke", views.RevokeView.as_view(), name="revoke-token"),
    path("register", registration.register, name="register"),
    path("register/<str:client_id>", registration.manage, name="register-manage"),
    path(".well-known/oauth-authorization-server", views.authorization_server_metadata, name="oauth-metadata"),
]
