from django.apps import AppConfig


class FhirStoreConfig(AppConfig):
    name = "sandbox.fhirstore"
    label = "fhirstore"
    verbose_name = "FHIR store"

    def ready(self):
        from sandbox.fhirstore import read_ahead

        read_ahead.register()
