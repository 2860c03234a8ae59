"""Status and file URLs under /t/<slug>/bulk/ (DESIGN.md §4); the manifest carries them absolute."""

from django.urls import path

from sandbox.bulk import views

urlpatterns = [
    path("jobs/<uuid:job_id>", views.StatusView.as_view(), name="bulk-status"),
    path("jobs/<uuid:job_id>/files/<str:name>", views.FileView.as_view(), name="bulk-file"),
]
