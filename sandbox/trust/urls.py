"""URLs under /directory/: the endpoint directory, its FHIR API, CAs and CRLs."""

from django.urls import path, re_path

from sandbox.trust import views

urlpatterns = [
    path("", views.directory_home, name="directory-home"),
    path("mtls/", views.mtls_whoami, name="directory-mtls-whoami"),
    path("export.zip", views.export_zip, name="directory-export"),
    path("import/", views.import_bundles, name="directory-import"),
    path("participants/new/", views.participant_new, name="directory-participant-new"),
    path("entries/<str:slug>/", views.entry_detail, name="directory-entry"),
    path("entries/<str:slug>/status/", views.entry_status, name="directory-entry-status"),
    path("entries/<str:slug>/certificates/<int:pk>/key.pem", views.participant_key, name="directory-entry-key"),
    path("entries/<str:slug>/certificates/<int:pk>/bundle.p12", views.participant_pkcs12, name="directory-entry-p12"),
    path("entries/<str:slug>/certificates/<int:pk>/revoke/", views.entry_revoke, name="directory-entry-revoke"),
    path("certificates/<int:pk>.pem", views.certificate_pem, name="directory-certificate-pem"),
    path("ca/<int:pk>.pem", views.ca_pem, name="directory-ca-pem"),
    path("ca/<int:pk>.crl", views.ca_crl, name="directory-ca-crl"),
    path("fhir/", views.fhir_base, name="directory-fhir-base"),
    path("fhir/metadata", views.fhir_base, name="directory-fhir-metadata"),
    re_path(r"^fhir/(?P<resource_type>[A-Za-z]+)/?$", views.fhir_search, name="directory-fhir-search"),
    re_path(
        r"^fhir/(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/?$",
        views.fhir_read,
        name="directory-fhir-read",
    ),
]
