from django.urls import re_path

from sandbox.fhirstore import views

urlpatterns = [
    re_path(r"^.*$", views.unknown_endpoint, name="fhir-unknown"),
]
