"""URLs under /payers/<slug>/certificates/: a payer's CA and certificates (members only)."""

from django.urls import path

from sandbox.trust import payer_views

urlpatterns = [
    path("", payer_views.certificate_list, name="payer-certificates"),
    path("client/", payer_views.issue_client, name="payer-certificates-client"),
    path("negative/", payer_views.issue_negative, name="payer-certificates-negative"),
    path("<int:pk>/revoke/", payer_views.revoke, name="payer-certificates-revoke"),
    path("<int:pk>/cert.pem", payer_views.certificate_pem, name="payer-certificates-pem"),
    path("<int:pk>/key.pem", payer_views.key_pem, name="payer-certificates-key"),
    path("<int:pk>/bundle.p12", payer_views.pkcs12, name="payer-certificates-p12"),
]
