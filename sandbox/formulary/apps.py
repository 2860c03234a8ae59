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
        capability.register_implementation_guides(implementation_guides)


def implementation_guides(tenant):
    """The US Drug Formulary guide at the version the payer chose (FormularySettings)."""
    from sandbox.formulary.models import FormularySettings

    version = FormularySettings.for_tenant(tenant).usdf_version
    return [
        f"http://hl7.org/fhir/us/davinci-drug-formulary/ImplementationGuide/hl7.fhir.us.davinci-drug-formulary|{version}"
    ]
