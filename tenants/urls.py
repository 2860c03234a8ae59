from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/api-token/", views.api_token, name="api-token"),
    path("payers/new/", views.payer_create, name="payer-create"),
    path("payers/<slug:slug>/", views.payer_detail, name="payer-detail"),
    path("payers/<slug:slug>/progress/", views.payer_progress, name="payer-progress"),
    path("payers/<slug:slug>/retry/", views.payer_retry, name="payer-retry"),
    path("payers/<slug:slug>/invite/", views.payer_invite, name="payer-invite"),
    path(
        "payers/<slug:slug>/members/<int:membership_id>/remove/", views.payer_remove_member, name="payer-remove-member"
    ),
    path("payers/<slug:slug>/delete/", views.payer_delete, name="payer-delete"),
]
