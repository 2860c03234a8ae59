"""The payer's formulary API settings page (/payers/<slug>/formulary-api/)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render

from sandbox.formulary.forms import FormularySettingsForm
from sandbox.formulary.models import FormularySettings
from tenants.context import tenant_scope
from tenants.views import _get_payer_for_user


@login_required
def formulary_api(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        current = FormularySettings.for_tenant(tenant)
    initial = {"formulary_public": tenant.formulary_public, "usdf_version": current.usdf_version}
    form = FormularySettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic(), tenant_scope(tenant):
            tenant.formulary_public = form.cleaned_data["formulary_public"]
            tenant.save(update_fields=["formulary_public"])
            current.usdf_version = form.cleaned_data["usdf_version"]
            current.save()
        messages.success(request, f"Formulary API settings of {tenant.name} saved.")
        return redirect("formulary-api", slug=slug)
    endpoints = tenant.endpoints()
    return render(request, "formulary/settings.html", {"tenant": tenant, "form": form, "endpoints": endpoints})
