from django import forms

from sandbox.trust.certificates import NEGATIVE_KINDS


class ParticipantForm(forms.Form):
    class Method:
        GENERATE = "generate"
        CSR = "csr"
        CERTIFICATE = "certificate"
        AUTHORITY = "ca"

    METHODS = [
        (Method.GENERATE, "Issue me a key and certificate"),
        (Method.CSR, "Certify my CSR (my key never leaves my machine)"),
        (Method.CERTIFICATE, "Pin my own certificate"),
        (Method.AUTHORITY, "Trust my CA (any certificate it issues)"),
    ]

    name = forms.CharField(max_length=200, help_text="Organization name shown in the directory.")
    endpoint_url = forms.URLField(
        required=False,
        max_length=500,
        label="Endpoint URL",
        assume_scheme="https",
        help_text="Your mTLS FHIR endpoint, if you run one.",
    )
    naic = forms.CharField(required=False, max_length=20, label="NAIC")
    npi = forms.CharField(required=False, max_length=20, label="NPI")
    tin = forms.CharField(required=False, max_length=20, label="TIN")
    method = forms.ChoiceField(choices=METHODS, initial=Method.GENERATE, label="Certificate")
    pem = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "-----BEGIN ..."}),
        label="PEM (CSR, certificate or CA certificate)",
    )
    pem_file = forms.FileField(required=False, label="…or upload the PEM file")

    def clean(self):
        data = super().clean()
        upload = data.get("pem_file")
        if upload:
            data["pem"] = upload.read(200_000).decode("utf-8", "replace")
        if data.get("method") != self.Method.GENERATE and not (data.get("pem") or "").strip():
            self.add_error("pem", "Paste or upload the PEM for this option.")
        return data


class ImportForm(forms.Form):
    bundle = forms.FileField(
        help_text="One mtls-bundle JSON file, or a zip of a Payer-Payer repository (bundles/*.json)."
    )


class NegativeCertificateForm(forms.Form):
    defect = forms.ChoiceField(choices=NEGATIVE_KINDS, label="Kind")
