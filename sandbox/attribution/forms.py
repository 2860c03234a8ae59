"""Dashboard forms of provider access."""

import re

from django import forms
from oauth2_provider.models import get_application_model

from sandbox.attribution.models import AttributionSettings
from sandbox.oauth.tokens import MINT_CLIENT_NAME

NPI_RE = re.compile(r"^\d{10}$")


class SettingsForm(forms.ModelForm):
    class Meta:
        model = AttributionSettings
        fields = ["data_window_start", "require_since_for_delta"]
        labels = {
            "data_window_start": "Provider downloads include data dated on or after",
            "require_since_for_delta": "Refuse provider-delta without _since",
        }
        widgets = {"data_window_start": forms.DateInput(attrs={"type": "date"})}


class ProviderClientForm(forms.Form):
    client_id = forms.ChoiceField(label="Client")
    organization_npi = forms.CharField(label="Provider organization NPI", max_length=10)
    organization_name = forms.CharField(label="Organization name", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Inside tenant_scope: the tenant's clients not yet tied to a provider.
        clients = (
            get_application_model()
            .objects.exclude(name=MINT_CLIENT_NAME)
            .filter(provider_client__isnull=True, revoked_at__isnull=True)
            .order_by("name")
        )
        self.fields["client_id"].choices = [(c.client_id, f"{c.name} ({c.client_id[:12]}…)") for c in clients]

    def clean_organization_npi(self):
        npi = self.cleaned_data["organization_npi"].strip()
        if not NPI_RE.match(npi):
            raise forms.ValidationError("An NPI is 10 digits.")
        return npi


class OptOutForm(forms.Form):
    patient_id = forms.CharField(label="Member (Patient id)", max_length=64)
    choice = forms.ChoiceField(
        label="The member", choices=[("deny", "opts out of provider access"), ("permit", "opts back in")]
    )
