from rest_framework import serializers

from sandbox.oauth import scopes
from sandbox.seeding.generator import MIN_MEMBERS
from sandbox.seeding.populate import MAX_MEMBERS
from tenants.models import Tenant


class PayerSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=40, required=False, help_text="Suggested from the name when omitted.")
    name = serializers.CharField(max_length=200)
    pdex_version = serializers.ChoiceField(choices=Tenant.PdexVersion.choices, default=Tenant.PdexVersion.V2_0)
    members = serializers.IntegerField(min_value=MIN_MEMBERS, max_value=MAX_MEMBERS, required=False)
    seed = serializers.IntegerField(min_value=0, required=False)


class TokenRequestSerializer(serializers.Serializer):
    scope = serializers.CharField(help_text="Space-separated SMART scopes, e.g. system/*.read")
    lifetime = serializers.IntegerField(min_value=60, max_value=7 * 24 * 3600, default=3600)

    def validate_scope(self, value):
        for item in value.split():
            if not scopes.is_valid(item):
                raise serializers.ValidationError(f"'{item}' is not a SMART scope (e.g. system/*.read).")
        return " ".join(value.split())


class ParticipantSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    endpoint = serializers.URLField(required=False, allow_blank=True, default="")
    csr = serializers.CharField(required=False, help_text="A PEM CSR; without it a key pair is generated.")
    naic = serializers.CharField(required=False, allow_blank=True, default="")
    npi = serializers.CharField(required=False, allow_blank=True, default="")
    tin = serializers.CharField(required=False, allow_blank=True, default="")


class ExchangeRequestSerializer(serializers.Serializer):
    target = serializers.CharField(help_text="Directory entry of the old payer: its slug, id, or the payer's slug.")
    member = serializers.CharField(max_length=64, help_text="The member's Patient id at this payer.")
