"""A payer's export jobs on the dashboard: live progress, details, cancel, expiry setting."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sandbox.bulk import export
from sandbox.bulk.models import ExportJob, ExportPolicy
from tenants.context import tenant_scope
from tenants.models import Membership

PAGE_SIZE = 50


def _get_payer_for_user(request, slug):
    """The payer named `slug` if the user is a member (404 otherwise, so non-members learn nothing)."""
    membership = Membership.objects.select_related("tenant").filter(tenant__slug=slug, user=request.user).first()
    if membership is None:
        raise Http404("No such payer.")
    return membership.tenant


class PolicyForm(forms.Form):
    expiry_minutes = forms.IntegerField(
        min_value=1, max_value=60 * 24 * 30, label="Keep finished exports for (minutes)"
    )


def _row(job):
    return {
        "uuid": str(job.uuid),
        "status": job.status,
        "status_display": job.get_status_display(),
        "progress": job.progress,
        "resources": job.resources_written,
        "message": job.message,
        "error": job.error,
        "active": job.is_active,
    }


@login_required
def job_list(request, slug):
    tenant = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        jobs = list(ExportJob.objects.select_related("application")[:PAGE_SIZE])
        form = PolicyForm(initial={"expiry_minutes": ExportPolicy.expiry_minutes_for(tenant)})
    return render(request, "bulk/job_list.html", {"tenant": tenant, "jobs": jobs, "policy_form": form})


@login_required
def job_progress(request, slug):
    """JSON for the list's live progress (polled by the page while jobs run)."""
    tenant = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        rows = [_row(job) for job in ExportJob.objects.all()[:PAGE_SIZE]]
    return JsonResponse({"jobs": rows})


@login_required
def job_detail(request, slug, job_id):
    tenant = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        job = ExportJob.objects.select_related("application").filter(uuid=job_id).first()
        if job is None:
            raise Http404("No such export.")
        files = list(job.files.all())
    base = reverse("bulk-job-detail", args=[slug, job_id])
    return render(
        request,
        "bulk/job_detail.html",
        {"tenant": tenant, "job": job, "files": files, "status_path": f"/t/{slug}/bulk/jobs/{job.uuid}", "base": base},
    )


@login_required
@require_POST
def job_cancel(request, slug, job_id):
    tenant = _get_payer_for_user(request, slug)
    export.cancel_by_member(tenant, job_id)
    messages.success(request, "The export was cancelled; its files are deleted.")
    return redirect("bulk-job-list", slug)


@login_required
@require_POST
def policy_update(request, slug):
    tenant = _get_payer_for_user(request, slug)
    form = PolicyForm(request.POST)
    if form.is_valid():
        with tenant_scope(tenant):
            ExportPolicy.objects.update_or_create(
                tenant=tenant, defaults={"expiry_minutes": form.cleaned_data["expiry_minutes"]}
            )
        messages.success(request, "Export expiry saved; it applies to exports that finish from now on.")
    else:
        messages.error(request, "Give the expiry as a whole number of minutes (1 to 43200).")
    return redirect("bulk-job-list", slug)
