import datetime as dt

from django import forms

from sandbox.seeding.attribution import LIST_STATUSES
from sandbox.seeding.formulary import TIERS
from sandbox.seeding.formulary_editing import PRODUCT_TYPES
from sandbox.seeding.roster import RELATIONSHIPS

GENDERS = [("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Unknown")]
DATE_INPUT = forms.DateInput(attrs={"type": "date"})


def _check_period(form, start_name, end_name):
    start, end = form.cleaned_data.get(start_name), form.cleaned_data.get(end_name)
    if start and end and end < start:
        form.add_error(end_name, "The end date is before the start date.")


class MemberForm(forms.Form):
    family = forms.CharField(label="Family name", max_length=100)
    given = forms.CharField(label="Given names", max_length=200, help_text="Separated by spaces.")
    gender = forms.ChoiceField(choices=GENDERS)
    birth_date = forms.DateField(widget=DATE_INPUT)
    member_id = forms.CharField(
        label="Member id",
        max_length=40,
        required=False,
        help_text="The MB identifier on the Patient and Coverage. Leave blank to have one assigned.",
    )
    phone = forms.CharField(max_length=40, required=False)
    email = forms.EmailField(required=False)
    line = forms.CharField(label="Street address", max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    state = forms.CharField(max_length=2, required=False, help_text="Two-letter code, e.g. CT.")
    postal_code = forms.CharField(max_length=10, required=False)
    plan_id = forms.ChoiceField(label="Plan", help_text="The plan of the member's coverage at this payer.")
    relationship = forms.ChoiceField(
        choices=list(RELATIONSHIPS.items()), initial="self", help_text="Relationship to the subscriber."
    )
    subscriber_id = forms.CharField(
        label="Subscriber id", max_length=40, required=False, help_text="Blank: the member id (the member subscribes)."
    )
    coverage_start = forms.DateField(widget=DATE_INPUT)
    coverage_end = forms.DateField(widget=DATE_INPUT, required=False, help_text="Blank while the coverage runs.")

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan_id"].choices = plans
        if not plans:
            self.fields["plan_id"].help_text = "This payer has no insurance plan yet: create one under Formularies."

    def clean_birth_date(self):
        birth_date = self.cleaned_data["birth_date"]
        if birth_date > dt.date.today():
            raise forms.ValidationError("The birth date is in the future.")
        if birth_date.year < 1900:
            raise forms.ValidationError("The birth date is before 1900.")
        return birth_date

    def clean_member_id(self):
        value = self.cleaned_data["member_id"].strip()
        if value and not value.replace("-", "").isalnum():
            raise forms.ValidationError("Use letters, digits and hyphens only.")
        return value

    def clean_state(self):
        return self.cleaned_data["state"].strip().upper()

    def clean(self):
        cleaned = super().clean()
        _check_period(self, "coverage_start", "coverage_end")
        birth, start = cleaned.get("birth_date"), cleaned.get("coverage_start")
        if birth and start and start < birth:
            self.add_error("coverage_start", "Coverage cannot start before the member was born.")
        return cleaned


class MemberSearchForm(forms.Form):
    q = forms.CharField(label="Name or member id", required=False, max_length=100)


class AttributionListForm(forms.Form):
    organization = forms.ChoiceField(label="Provider organization")
    name = forms.CharField(max_length=200, required=False, help_text="Blank: “<organization> attribution list <year>”.")
    status = forms.ChoiceField(choices=[(s, s) for s in LIST_STATUSES], initial="draft", label="List status")
    start = forms.DateField(label="Contract start", widget=DATE_INPUT)
    end = forms.DateField(label="Contract end", widget=DATE_INPUT)

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = organizations
        year = dt.date.today().year
        self.fields["start"].initial = dt.date(year, 1, 1)
        self.fields["end"].initial = dt.date(year, 12, 31)

    def clean(self):
        cleaned = super().clean()
        _check_period(self, "start", "end")
        return cleaned


class ListMemberForm(forms.Form):
    member = forms.CharField(label="Member id or Patient id", max_length=64)


class ListStatusForm(forms.Form):
    status = forms.ChoiceField(choices=[(s, s) for s in LIST_STATUSES])


class FormularyForm(forms.Form):
    name = forms.CharField(max_length=200)
    identifier = forms.CharField(max_length=60, required=False, help_text="Blank: derived from the name.")
    start = forms.DateField(widget=DATE_INPUT)
    end = forms.DateField(widget=DATE_INPUT)

    def clean(self):
        cleaned = super().clean()
        _check_period(self, "start", "end")
        return cleaned


class PlanForm(forms.Form):
    name = forms.CharField(max_length=200)
    identifier = forms.CharField(max_length=60, required=False, help_text="Blank: derived from the name.")
    product_type = forms.ChoiceField(choices=list(PRODUCT_TYPES.items()), label="Product type")
    formularies = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="At least one.")
    start = forms.DateField(widget=DATE_INPUT)
    end = forms.DateField(widget=DATE_INPUT)

    def __init__(self, *args, formularies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["formularies"].choices = formularies

    def clean(self):
        cleaned = super().clean()
        _check_period(self, "start", "end")
        return cleaned


class DrugForm(forms.Form):
    drug = forms.CharField(
        label="Drug", max_length=200, help_text="An RxNorm code (RXCUI) or a drug name from the catalog."
    )
    tier = forms.ChoiceField(choices=list(TIERS.items()))
    prior_authorization = forms.BooleanField(required=False)
    step_therapy = forms.BooleanField(required=False)
    quantity_limit = forms.BooleanField(required=False)
    quantity_note = forms.CharField(
        label="Quantity limit", max_length=200, required=False, help_text="e.g. 30 tablets per 30 days."
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("quantity_note") and not cleaned.get("quantity_limit"):
            self.add_error("quantity_note", "Tick “Quantity limit” to describe one.")
        return cleaned


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field taking several files (Django's documented recipe); cleans to a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            # An empty list cleans like no file at all: "This field is required."
            return [single(item, initial) for item in data] or [single(None, initial)]
        return [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files",
        help_text="FHIR Bundles (batch, transaction or collection) or NDJSON files (.ndjson), several at once.",
    )
