"""The payer-to-payer page of a payer: settings as the old payer, exchange runs as the new payer."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.fhirstore.models import Resource
from sandbox.payer2payer import exchange
from sandbox.payer2payer.demo import UNIQUE_INDEX
from sandbox.payer2payer.forms import ExchangeForm, SettingsForm
from sandbox.payer2payer.models import ExchangeRun, ExchangeSettings, MatchedMember
from sandbox.seeding.members import patient_id
from tenants.context import tenant_scope
from tenants.views import _get_payer_for_user


def _page(request, tenant, exchange_form=None, settings_form=None):
    config = ExchangeSettings.for_tenant(tenant)
    with tenant_scope(tenant):
        runs = list(ExchangeRun.objects.select_related("target")[:20])
        matches = list(MatchedMember.objects.select_related("application").order_by("-updated_at")[:20])
        demo_member = patient_id(UNIQUE_INDEX)
        has_demo_member = Resource.objects.filter(resource_type="Patient", fhir_id=demo_member).exists()
    context = {
        "tenant": tenant,
        "runs": runs,
        "matches": matches,
        "exchange_form": exchange_form
        or ExchangeForm(tenant=tenant, initial={"patient_id": demo_member if has_demo_member else ""}),
        "settings_form": settings_form or SettingsForm(instance=config),
    }
    return render(request, "payer2payer/exchange.html", context)


@login_required
def exchange_page(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    return _page(request, tenant)


@login_required
@require_POST
def start(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = ExchangeForm(request.POST, tenant=tenant)
    if not form.is_valid():
        return _page(request, tenant, exchange_form=form)
    run = exchange.start_run(tenant, form.cleaned_data["target"], form.cleaned_data["patient_id"], user=request.user)
    return redirect("p2p-run", slug=tenant.slug, run_id=run.pk)


@login_required
@require_POST
def save_settings(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = SettingsForm(request.POST, instance=ExchangeSettings.for_tenant(tenant))
    with tenant_scope(tenant):
        # Validation checks the one-row-per-payer constraint through the tenant-scoped manager.
        valid = form.is_valid()
        if valid:
            form.save()
    if not valid:
        return _page(request, tenant, settings_form=form)
    messages.success(request, "Payer-to-payer settings saved.")
    return redirect("p2p-exchange", slug=tenant.slug)


@login_required
def run_detail(request, slug, run_id):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        run = ExchangeRun.objects.select_related("target").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such exchange run.")
    return render(request, "payer2payer/run.html", {"tenant": tenant, "run": run})
