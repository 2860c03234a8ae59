from sandbox.fhirstore.views.everything import EverythingView
from sandbox.fhirstore.views.history import InstanceHistoryView, SystemHistoryView, TypeHistoryView
from sandbox.fhirstore.views.resource import InstanceView, TypeView, VersionView
from sandbox.fhirstore.views.search import SearchPostView
from sandbox.fhirstore.views.system import MetadataView, SystemView, unknown_endpoint

__all__ = [
    "EverythingView",
    "InstanceHistoryView",
    "InstanceView",
    "MetadataView",
    "SearchPostView",
    "SystemHistoryView",
    "SystemView",
    "TypeHistoryView",
    "TypeView",
    "VersionView",
    "unknown_endpoint",
]
