from django.apps import AppConfig


class FhirStoreConfig(AppConfig):
    name = "sandbox.fhirstore"
    label = "fhirstore"
    verbose_name = "FHIR store"
