from django.apps import AppConfig


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
        # After seeding (order 30): the demo pairing needs the seeded designed members.
        register_step("Link demo prior coverage", demo.link_step, weight=1, order=40)


MEMBER_MATCH = "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
BULK_MEMBER_MATCH_21 = "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/bulk-member-match"
BULK_MEMBER_MATCH_22 = "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/BulkMemberMatch"
