"""Dashboard pages under /payers/<slug>/exports/ (members only)."""

from django.urls import path

from sandbox.bulk import dashboard

urlpatterns = [
    path("", dashboard.job_list, name="bulk-job-list"),
    path("progress/", dashboard.job_progress, name="bulk-job-progress"),
    path("settings/", dashboard.policy_update, name="bulk-policy-update"),
    path("<uuid:job_id>/", dashboard.job_detail, name="bulk-job-detail"),
    path("<uuid:job_id>/cancel/", dashboard.job_cancel, name="bulk-job-cancel"),
]
