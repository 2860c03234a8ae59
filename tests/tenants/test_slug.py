import pytest
from django.core.exceptions import ValidationError

from tenants.forms import suggest_slug
from tenants.models import validate_tenant_slug


@pytest.mark.parametrize("slug", ["acme", "acme-health", "payer-2", "a1b", "x" * 40])
def test_it_accepts_valid_slugs(slug):
    validate_tenant_slug(slug)


@pytest.mark.parametrize(
    "slug, code",
    [
        ("ab", "length"),
        ("x" * 41, "length"),
        ("Acme", "format"),
        ("acme_health", "format"),
        ("-acme", "format"),
        ("acme-", "format"),
        ("ac--me", "format"),
        ("acme health", "format"),
        ("admin", "reserved"),
        ("api", "reserved"),
        ("static", "reserved"),
    ],
)
def test_it_rejects_invalid_slugs_with_a_reason(slug, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_tenant_slug(slug)
    assert excinfo.value.code == code


@pytest.mark.parametrize(
    "name, slug",
    [
        ("Acme Health Plan", "acme-health-plan"),
        ("Ünïted  Care!", "united-care"),
        ("API", "api-payer"),
        ("X", "x-payer"),
    ],
)
def test_it_suggests_a_valid_slug_from_the_name(name, slug):
    assert suggest_slug(name) == slug
    validate_tenant_slug(suggest_slug(name))
