from django.apps import AppConfig, apps


class Payer2PayerConfig(AppConfig):
    """PDex payer-to-payer: $member-match, bulk member match, consent, outbound exchange runs."""

    name = "sandbox.payer2payer"
    label = "payer2payer"
    verbose_name = "Payer-to-payer"

    def ready(self):
        from sandbox.fhirstore import access, capability
        from sandbox.payer2payer import demo, restriction
        from tenants.provisioning import register_step

        access.register_restriction(restriction.for_token)
        capability.register_operation("Patient", "member-match", MEMBER_MATCH)
        capability.register_operation("Group", "bulk-member-match", BULK_MEMBER_MATCH_21, pdex_versions={"2.1"})
        capability.register_operation("Group", "bulk-member-match", BULK_MEMBER_MATCH_22, pdex_versions={"2.2"})
        if apps.is_installed("sandbox.attribution"):
            # Group/[id]/$davinci-data-export is the attribution app's route; #payertopayer is ours.
            from sandbox.attribution import exports
            from sandbox.payer2payer import data_export

            exports.EXPORT_TYPE_HANDLERS[data_export.EXPORT_TYPE] = data_export.kickoff_export
        # After seeding (order 30): the demo pairing needs the seeded designed members.
        register_step("Link demo prior coverage", demo.link_step, weight=1, order=40)


MEMBER_MATCH = "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
BULK_MEMBER_MATCH_21 = "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/bulk-member-match"
BULK_MEMBER_MATCH_22 = "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/BulkMemberMatch"
