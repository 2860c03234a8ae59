from django import forms

from sandbox.payer2payer.models import ExchangeSettings
from sandbox.trust.models import DirectoryEntry


class ExchangeForm(forms.Form):
    target = forms.ModelChoiceField(
        queryset=DirectoryEntry.objects.none(), label="Old payer (from the directory)", empty_label=None
    )
    patient_id = forms.CharField(
        label="Member (Patient id here)", max_length=64, help_text="The member whose history is pulled."
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = (
            DirectoryEntry.objects.filter(status=DirectoryEntry.Status.ACTIVE)
            .exclude(endpoint_url="")
            .exclude(tenant=tenant)
            .order_by("name")
        )


class SettingsForm(forms.ModelForm):
    class Meta:
        model = ExchangeSettings
        fields = [
            "match_override",
            "sensitive_data",
            "require_consent",
            "enforce_consent_period",
            "strict_recipient",
            "data_window_years",
        ]
        labels = {
            "match_override": "$member-match outcome",
            "sensitive_data": "Sensitive data",
            "require_consent": "Require a Consent in $member-match",
            "enforce_consent_period": "Refuse a consent whose period does not cover today",
            "strict_recipient": "Refuse a consent whose recipient is not the requesting organization",
            "data_window_years": "Data window (years)",
        }
