"""
Provider-access operation URLs under /t/<slug>/fhir/. Listed in tenant_urls before the bulk
engine's and the FHIR store's patterns: the $export routes here send every caller that is not
a provider on to the bulk engine's views.
"""

from django.urls import re_path

from sandbox.attribution import views

GROUP = r"^Group/(?P<fhir_id>[A-Za-z0-9\-.]{1,64})/"
# The types whose interactions these patterns answer instead of the store's.
TYPES = ("Group",)

urlpatterns = [
    re_path(GROUP + r"\$member-add/?$", views.MemberAddView.as_view(), name="atr-member-add"),
    re_path(GROUP + r"\$member-remove/?$", views.MemberRemoveView.as_view(), name="atr-member-remove"),
    re_path(GROUP + r"\$confirm-attribution-list/?$", views.ConfirmView.as_view(), name="atr-confirm"),
    re_path(GROUP + r"\$attribution-status/?$", views.AttributionStatusView.as_view(), name="atr-status"),
    re_path(GROUP + r"\$davinci-data-export/?$", views.DataExportView.as_view(), name="atr-data-export"),
    re_path(GROUP + r"\$export/?$", views.GroupExportView.as_view(), name="provider-group-export"),
    re_path(r"^Patient/\$export/?$", views.PatientExportView.as_view(), name="provider-patient-export"),
    re_path(r"^\$export/?$", views.SystemExportView.as_view(), name="provider-system-export"),
    # The FHIR store's own Group interactions, minus opted-out members for providers.
    re_path(r"^Group/?$", views.group_type, name="provider-group-type"),
    re_path(r"^Group/_search/?$", views.group_search, name="provider-group-search"),
    re_path(GROUP + r"?$", views.group_instance, name="provider-group-instance"),
    re_path(GROUP + r"_history/?$", views.group_history, name="provider-group-history"),
    re_path(GROUP + r"_history/(?P<version_id>[^/]+)/?$", views.group_version, name="provider-group-vread"),
]
