from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("sandbox.api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("directory/", include("sandbox.trust.urls")),
    path("payers/<slug:slug>/certificates/", include("sandbox.trust.payer_urls")),
    path("payers/<slug:slug>/data/", include("sandbox.seeding.urls")),
    path("payers/<slug:slug>/clients/", include("sandbox.oauth.portal_urls")),
    path("payers/<slug:slug>/formulary-api/", include("sandbox.formulary.portal_urls")),
    path("payers/<slug:slug>/exports/", include("sandbox.bulk.dashboard_urls")),
    path("payers/<slug:slug>/attribution/", include("sandbox.attribution.dashboard_urls")),
    path("payers/<slug:slug>/exchange/", include("sandbox.payer2payer.dashboard_urls")),
    path("", include("tenants.urls")),
]
