import json

from django import forms
from django.contrib.auth import get_user_model

from sandbox.oauth import scopes

METHOD_CHOICES = [
    ("client_secret_basic", "Client secret (client_secret_basic)"),
    ("client_secret_post", "Client secret in the body (client_secret_post)"),
    ("private_key_jwt", "Signed JWT assertion (private_key_jwt, SMART Backend Services)"),
]


def _clean_scope(value):
    for item in value.split():
        if not scopes.is_valid(item):
            raise forms.ValidationError(f"'{item}' is not a SMART scope (e.g. system/*.read, system/Patient.rs).")
    return " ".join(value.split())


class ClientForm(forms.Form):
    """Register a client by hand; turned into RFC 7591 metadata and checked like DCR."""

    client_name = forms.CharField(max_length=200)
    token_endpoint_auth_method = forms.ChoiceField(choices=METHOD_CHOICES, label="Authentication")
    scope = forms.CharField(
        initial="system/*.read system/*.rs", help_text="Space-separated SMART scopes this client may be granted."
    )
    jwks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="JWKS (public keys)",
        help_text="For private_key_jwt: paste a JWK Set, or give its URL below.",
    )
    jwks_uri = forms.URLField(required=False, label="JWKS URL", assume_scheme="https")

    def clean_scope(self):
        return _clean_scope(self.cleaned_data["scope"])

    def clean(self):
        data = super().clean()
        if data.get("token_endpoint_auth_method") == "private_key_jwt" and not (
            data.get("jwks") or data.get("jwks_uri")
        ):
            raise forms.ValidationError("A private_key_jwt client needs a JWKS pasted or a JWKS URL.")
        if data.get("jwks") and data.get("jwks_uri"):
            raise forms.ValidationError("Give the JWKS or its URL, not both.")
        if data.get("jwks"):
            try:
                data["jwks"] = json.loads(data["jwks"])
            except ValueError:
                self.add_error("jwks", 'This is not JSON: paste a JWK Set such as {"keys": [...]}.')
        return data

    def metadata(self):
        data = self.cleaned_data
        metadata = {
            "client_name": data["client_name"],
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": data["token_endpoint_auth_method"],
            "scope": data["scope"],
        }
        if data.get("jwks"):
            metadata["jwks"] = data["jwks"]
        if data.get("jwks_uri"):
            metadata["jwks_uri"] = data["jwks_uri"]
        return metadata


class MintTokenForm(forms.Form):
    scope = forms.CharField(initial="system/*.read", help_text="Space-separated SMART scopes.")
    lifetime = forms.IntegerField(min_value=60, max_value=7 * 24 * 3600, initial=3600, help_text="Seconds.")

    def clean_scope(self):
        return _clean_scope(self.cleaned_data["scope"])


class ProviderUserForm(forms.Form):
    who = forms.CharField(label="Username or e-mail", max_length=254)
    organization_npi = forms.RegexField(
        regex=r"^\d{10}$", label="Organization NPI", error_messages={"invalid": "An NPI is 10 digits."}
    )
    organization_name = forms.CharField(max_length=200, required=False)

    def clean_who(self):
        who = self.cleaned_data["who"].strip()
        User = get_user_model()
        user = User.objects.filter(username__iexact=who).first() or (
            User.objects.filter(email__iexact=who).first() if "@" in who else None
        )
        if user is None:
            raise forms.ValidationError(f"No user is named '{who}'; they need an account first (sign up).")
        self.user = user
        return who


class TokenLifetimeForm(forms.Form):
    access_token_lifetime = forms.IntegerField(
        min_value=60,
        max_value=24 * 3600,
        label="Access token lifetime (seconds)",
        help_text="SMART Backend Services recommends 300.",
    )
