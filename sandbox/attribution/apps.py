from django.apps import AppConfig

ATR_OPERATION = "http://hl7.org/fhir/us/davinci-atr/OperationDefinition/"


class AttributionConfig(AppConfig):
    name = "sandbox.attribution"
    label = "attribution"
    verbose_name = "Provider access (ATR)"

    def ready(self):
        from sandbox.attribution.access import provider_restriction
        from sandbox.attribution.models import ProviderClient
        from sandbox.fhirstore import access, capability
        from sandbox.oauth import bearer

        access.register_restriction(provider_restriction)
        bearer.load_with_token(ProviderClient)
        for name in ("member-add", "member-remove", "confirm-attribution-list", "attribution-status"):
            capability.register_operation("Group", name, ATR_OPERATION + name)
        capability.register_operation("Group", "davinci-data-export", ATR_OPERATION + "davinci-data-export")
        capability.register_guide("http://hl7.org/fhir/us/davinci-atr/CapabilityStatement/atr-producer")
        capability.register_guide(
            "http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-provider-access-server", {"2.1", "2.2"}
        )
