"""Kick-off URLs under /t/<slug>/fhir/, listed in tenant_urls before the FHIR store's catch-all."""

from django.urls import re_path

from sandbox.bulk import views

urlpatterns = [
    re_path(r"^\$export/?$", views.SystemKickoffView.as_view(), name="bulk-kickoff-system"),
    re_path(r"^Patient/\$export/?$", views.PatientKickoffView.as_view(), name="bulk-kickoff-patient"),
    re_path(
        r"^Group/(?P<group_id>[A-Za-z0-9\-.]{1,64})/\$export/?$",
        views.GroupKickoffView.as_view(),
        name="bulk-kickoff-group",
    ),
]
