"""
URLs under /t/<slug>/fhir/. Operation URLs of other apps ($export, $member-match, ...) must be
listed before the generic instance patterns, which would otherwise take `$name` as an id.
"""

from django.urls import re_path

from sandbox.fhirstore import views

TYPE = r"(?P<resource_type>[A-Z][A-Za-z]+)"
ID = r"(?P<fhir_id>[A-Za-z0-9\-.]{1,64})"

urlpatterns = [
    re_path(r"^$", views.SystemView.as_view(), name="fhir-base"),
    re_path(r"^metadata/?$", views.MetadataView.as_view(), name="fhir-metadata"),
    re_path(r"^_history/?$", views.SystemHistoryView.as_view(), name="fhir-history-system"),
    re_path(rf"^Patient/{ID}/\$everything/?$", views.EverythingView.as_view(), name="fhir-everything"),
    re_path(rf"^{TYPE}/?$", views.TypeView.as_view(), name="fhir-type"),
    re_path(rf"^{TYPE}/_search/?$", views.SearchPostView.as_view(), name="fhir-search"),
    re_path(rf"^{TYPE}/_history/?$", views.TypeHistoryView.as_view(), name="fhir-history-type"),
    re_path(rf"^{TYPE}/{ID}/?$", views.InstanceView.as_view(), name="fhir-instance"),
    re_path(rf"^{TYPE}/{ID}/_history/?$", views.InstanceHistoryView.as_view(), name="fhir-history-instance"),
    re_path(rf"^{TYPE}/{ID}/_history/(?P<version_id>[^/]+)/?$", views.VersionView.as_view(), name="fhir-vread"),
    re_path(r"^.*$", views.unknown_endpoint, name="fhir-unknown"),
]
