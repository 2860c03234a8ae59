from django.apps import AppConfig


class FormularyConfig(AppConfig):
    name = "sandbox.formulary"
    label = "formulary"
    verbose_name = "US Drug Formulary"

    def ready(self):
        from sandbox.fhirstore import capability

        # The IG defines no OperationDefinition for these; they are the Bulk Data export operation
        # applied to InsurancePlan (spec/formulary.md §5.1).
        capability.register_operation(
            "InsurancePlan", "export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
        )
