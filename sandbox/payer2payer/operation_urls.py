"""Operation URLs under /t/<slug>/fhir/, listed in tenant_urls before the FHIR store's patterns."""

from django.urls import re_path

from sandbox.payer2payer import views

urlpatterns = [
    re_path(r"^Patient/\$member-match/?$", views.MemberMatchView.as_view(), name="p2p-member-match"),
]
