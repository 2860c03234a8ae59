from django import forms

from sandbox.formulary.models import FormularySettings


class FormularySettingsForm(forms.Form):
    formulary_public = forms.BooleanField(
        required=False,
        label="Public formulary API",
        help_text="InsurancePlan, Basic, MedicationKnowledge and Location are readable, searchable and exportable "
        "without a token (US Drug Formulary §Access).",
    )
    usdf_version = forms.ChoiceField(choices=FormularySettings.Version.choices, label="US Drug Formulary version")
