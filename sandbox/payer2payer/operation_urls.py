"""Operation URLs under /t/<slug>/fhir/, listed in tenant_urls before the FHIR store's catch-all."""

from django.urls import re_path

from sandbox.payer2payer import views

urlpatterns = [
    re_path(r"^Patient/\$member-match/?$", views.MemberMatchView.as_view(), name="p2p-member-match"),
    # PDex names the operation bulk-member-match; its narrative and profiles say $multi-member-match.
    re_path(
        r"^(?:Group/)?\$(?:bulk|multi)-member-match/?$", views.BulkMemberMatchView.as_view(), name="p2p-bulk-match"
    ),
    re_path(
        r"^bulk-member-match-status/(?P<job_id>[0-9a-f-]{36})/?$",
        views.BulkMatchStatusView.as_view(),
        name="p2p-bulk-match-status",
    ),
    re_path(
        r"^bulk-member-match-status/(?P<job_id>[0-9a-f-]{36})/(?P<kind>Group|Parameters)\.ndjson$",
        views.BulkMatchStatusView.as_view(),
        name="p2p-bulk-match-file",
    ),
]
