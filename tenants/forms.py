from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.text import slugify

from sandbox.seeding.generator import MIN_MEMBERS
from sandbox.seeding.populate import MAX_MEMBERS
from tenants.models import RESERVED_SLUGS, Membership, Tenant, validate_tenant_slug


def suggest_slug(name):
    """A slug derived from a payer name (the form's JavaScript does the same as you type)."""
    slug = slugify(name)[:40].strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    if len(slug) < 3 or slug in RESERVED_SLUGS:
        slug = (slug + "-payer").strip("-")
    return slug


class PayerForm(forms.ModelForm):
    slug = forms.CharField(
        max_length=40,
        required=False,
        help_text="Part of every URL of this payer: /t/<slug>/fhir. Lowercase letters, digits, hyphens.",
    )
    members = forms.IntegerField(
        required=False,
        min_value=MIN_MEMBERS,
        max_value=MAX_MEMBERS,
        help_text=f"Synthetic members to generate, {MIN_MEMBERS} to {MAX_MEMBERS:,} (default: the sandbox's setting).",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        help_text="The same seed always generates the same data (default 1).",
    )

    class Meta:
        model = Tenant
        fields = ["name", "slug", "pdex_version"]
        labels = {"name": "Payer name", "pdex_version": "PDex version"}

    def clean_slug(self):
        slug = self.cleaned_data.get("slug", "").strip().lower() or suggest_slug(self.cleaned_data.get("name", ""))
        validate_tenant_slug(slug)
        if Tenant.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"The slug '{slug}' is already taken; choose another.")
        return slug

    def seeding_params(self):
        """The job params of the synthetic data: only what the user chose."""
        return {key: self.cleaned_data[key] for key in ("members", "seed") if self.cleaned_data.get(key) is not None}


class InviteForm(forms.Form):
    who = forms.CharField(label="Username or e-mail", max_length=254)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.user = None
        self.email = None

    def clean_who(self):
        who = self.cleaned_data["who"].strip()
        User = get_user_model()
        user = User.objects.filter(username__iexact=who).first()
        if user is None and "@" in who:
            user = User.objects.filter(email__iexact=who).first()
            if user is None:
                forms.EmailField().clean(who)
                if self.tenant.invitations.filter(email__iexact=who).exists():
                    raise forms.ValidationError(f"{who} has already been invited.")
                self.email = who.lower()
                return who
        if user is None:
            raise forms.ValidationError(f"No user is named '{who}'. Invite them by e-mail instead.")
        if Membership.objects.filter(tenant=self.tenant, user=user).exists():
            raise forms.ValidationError(f"{user.username} is already a member of this payer.")
        self.user = user
        return who


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; lets teammates invite you by e-mail.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "email"]

    def clean_email(self):
        email = self.cleaned_data.get("email", "").strip().lower()
        if email and get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail already exists.")
        return email
