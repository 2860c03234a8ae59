from django.apps import AppConfig

BULK = "http://hl7.org/fhir/uv/bulkdata/"


class BulkConfig(AppConfig):
    name = "sandbox.bulk"
    label = "bulk"
    verbose_name = "Bulk Data export"

    def ready(self):
        from sandbox.bulk import checks  # noqa: F401  (registers the system checks)
        from sandbox.fhirstore import capability

        # Inferno checks name "export" and these canonicals at each level (spec §1.7, §8 B.2).
        capability.register_operation(None, "export", BULK + "OperationDefinition/export")
        capability.register_operation("Patient", "export", BULK + "OperationDefinition/patient-export")
        capability.register_operation("Group", "export", BULK + "OperationDefinition/group-export")
        capability.register_guide(BULK + "CapabilityStatement/bulk-data")
