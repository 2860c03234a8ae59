"""
URLs under /t/<slug>/fhir/. No pattern here matches an operation (`$name`) of another app, so
sandbox.tenant_urls lists them early and puts the catch-all for unknown endpoints,
`unknown_urlpatterns`, after every app's operations. It lists `commonest_urlpatterns` first of
all: Django's resolver tries patterns one by one, and reads and searches are most requests.
"""

import re

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
]

unknown_urlpatterns = [re_path(r"^.*$", views.unknown_endpoint, name="fhir-unknown")]


def commonest_urlpatterns(types_of_other_apps=()):
    """Read ([type]/[id]) and search ([type]) of every type but those another app answers for."""
    if types_of_other_apps:
        taken = "|".join(re.escape(t) for t in types_of_other_apps)
        type_ = rf"(?P<resource_type>(?!(?:{taken})(?:/|$))[A-Z][A-Za-z]+)"
    else:
        type_ = TYPE
    return [
        re_path(rf"^{type_}/{ID}/?$", views.InstanceView.as_view()),
        re_path(rf"^{type_}/?$", views.TypeView.as_view()),
    ]
