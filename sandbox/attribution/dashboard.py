"""
Provider-access pages: the payer's overview (settings, provider system clients, lists by
provider, changes providers made) under /payers/<slug>/attribution/, one provider's view of
its lists and exports (for payer staff, and for that provider's signed-in staff under
/t/<slug>/provider/).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_application_model

from sandbox.attribution import optout, overview
from sandbox.attribution.forms import OptOutForm, ProviderClientForm, SettingsForm
from sandbox.attribution.models import AttributionChange, AttributionSettings, ProviderClient
from sandbox.fhirstore.errors import FhirError
from sandbox.oauth.models import ProviderUser
from tenants.context import tenant_scope
from tenants.views import _get_payer_for_user


def _overview(request, tenant, **forms):
    with tenant_scope(tenant):
        context = {
            "tenant": tenant,
            "settings_form": forms.get("settings_form")
            or SettingsForm(instance=AttributionSettings.for_tenant(tenant)),
            "client_form": forms.get("client_form") or ProviderClientForm(),
            "provider_clients": list(ProviderClient.objects.select_related("application")),
            "provider_users": list(ProviderUser.objects.select_related("user")),
            "lists": overview.attribution_lists(),
            "changes": list(AttributionChange.objects.all()[:100]),
            "opt_out_form": forms.get("opt_out_form") or OptOutForm(),
            "opted_out": sorted(optout.opted_out()),
        }
    return render(request, "attribution/overview.html", context)


@login_required
def attribution_overview(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    return _overview(request, tenant)


@login_required
@require_POST
def update_settings(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        form = SettingsForm(request.POST, instance=AttributionSettings.for_tenant(tenant))
        if not form.is_valid():
            return _overview(request, tenant, settings_form=form)
        form.save()
    messages.success(request, "Provider access settings saved.")
    return redirect("attribution-overview", slug)


@login_required
@require_POST
def link_client(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        form = ProviderClientForm(request.POST)
        if not form.is_valid():
            return _overview(request, tenant, client_form=form)
        application = get_application_model().objects.get(client_id=form.cleaned_data["client_id"])
        ProviderClient.objects.create(
            application=application,
            organization_npi=form.cleaned_data["organization_npi"],
            organization_name=form.cleaned_data["organization_name"],
        )
    messages.success(request, f"{application.name} now speaks for NPI {form.cleaned_data['organization_npi']}.")
    return redirect("attribution-overview", slug)


@login_required
@require_POST
def unlink_client(request, slug, link_id):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        link = get_object_or_404(ProviderClient.objects.all(), pk=link_id)
        link.delete()
    messages.success(request, "The client is no longer tied to a provider (its tokens are the payer's own again).")
    return redirect("attribution-overview", slug)


@login_required
@require_POST
def record_opt_out(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = OptOutForm(request.POST)
    if not form.is_valid():
        return _overview(request, tenant, opt_out_form=form)
    patient_id, opt_out = form.cleaned_data["patient_id"].strip(), form.cleaned_data["choice"] == "deny"
    try:
        with tenant_scope(tenant):
            consent = optout.record(patient_id, opt_out=opt_out)
    except FhirError as exc:
        form.add_error("patient_id", str(exc))
        return _overview(request, tenant, opt_out_form=form)
    what = "opted out of" if opt_out else "opted back in to"
    messages.success(request, f"Patient/{patient_id} {what} provider access ({consent.reference}).")
    return redirect("attribution-overview", slug)


@login_required
def provider_view(request, slug, npi):
    """A provider's lists and exports as that provider sees them, for payer staff."""
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        page = overview.provider_page(npi)
    return render(request, "attribution/provider.html", {"tenant": tenant, "page": page, "staff": True})


def provider_portal(request):
    """/t/<slug>/provider/: the signed-in provider user's own lists and exports."""
    tenant = request.tenant
    if not request.user.is_authenticated:
        return redirect(reverse("oauth2_provider:login") + "?next=" + request.get_full_path())
    staff = ProviderUser.objects.filter(user=request.user).first()
    if staff is None:
        return render(
            request,
            "oauth/not_a_provider_user.html",
            {"tenant": tenant, "login_url": reverse("oauth2_provider:login") + "?next=" + request.get_full_path()},
            status=403,
        )
    page = overview.provider_page(staff.organization_npi, hide_opted_out=True)
    return render(request, "attribution/provider.html", {"tenant": tenant, "page": page, "staff": False})
