from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tenants import provisioning
from tenants.forms import InviteForm, PayerForm, SignupForm
from tenants.models import Invitation, Membership, Tenant


def _get_payer_for_user(request, slug, *, owner=False):
    """The payer named `slug` if the user is a member (404 otherwise, so that non-members
    cannot even learn that it exists); with owner=True, members who are not owners get 403."""
    membership = Membership.objects.select_related("tenant").filter(tenant__slug=slug, user=request.user).first()
    if membership is None:
        raise Http404("No such payer.")
    if owner and membership.role != Membership.Role.OWNER:
        raise PermissionError
    return membership.tenant, membership


def dashboard(request):
    if not request.user.is_authenticated:
        return render(request, "tenants/landing.html")
    memberships = Membership.objects.filter(user=request.user).select_related("tenant").order_by("tenant__name")
    return render(request, "tenants/dashboard.html", {"memberships": memberships})


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            joined = _claim_invitations(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if joined:
            messages.success(request, f"You joined {', '.join(t.name for t in joined)}.")
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


def _claim_invitations(user):
    if not user.email:
        return []
    joined = []
    for invitation in Invitation.objects.filter(email__iexact=user.email).select_related("tenant"):
        Membership.objects.get_or_create(tenant=invitation.tenant, user=user)
        joined.append(invitation.tenant)
        invitation.delete()
    return joined


@login_required
def payer_create(request):
    form = PayerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                tenant, job = provisioning.create_payer(
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"],
                    pdex_version=form.cleaned_data["pdex_version"],
                    owner=request.user,
                    params=form.seeding_params(),
                )
                provisioning.enqueue(job)
        except (IntegrityError, ValidationError):
            # Two submissions raced for the same slug; the first one won.
            form.add_error("slug", f"The slug '{form.cleaned_data['slug']}' is already taken; choose another.")
        else:
            return redirect(tenant)
    return render(request, "tenants/payer_form.html", {"form": form})


@login_required
def payer_detail(request, slug):
    tenant, membership = _get_payer_for_user(request, slug)
    job = provisioning.latest_job(tenant)
    context = {
        "tenant": tenant,
        "membership": membership,
        "job": job,
        "endpoints": tenant.endpoints(),
        "members": tenant.memberships.select_related("user").order_by("created_at"),
        "invitations": tenant.invitations.order_by("email"),
        "invite_form": InviteForm(tenant=tenant),
    }
    return render(request, "tenants/payer_detail.html", context)


@login_required
def payer_progress(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    job = provisioning.latest_job(tenant)
    return JsonResponse({"payer": tenant.slug, "status": tenant.status, "job": job.as_progress() if job else None})


@login_required
@require_POST
def payer_retry(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    if tenant.status != Tenant.Status.FAILED:
        messages.info(request, "This payer is not in a failed state; nothing to retry.")
        return redirect(tenant)
    with transaction.atomic():
        job = provisioning.restart(tenant)
        provisioning.enqueue(job)
    return redirect(tenant)


@login_required
@require_POST
def payer_invite(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = InviteForm(request.POST, tenant=tenant)
    if not form.is_valid():
        for error in form.errors.get("who", []):
            messages.error(request, error)
        return redirect(tenant)
    with transaction.atomic():
        if form.user is not None:
            Membership.objects.get_or_create(tenant=tenant, user=form.user)
            messages.success(request, f"{form.user.username} can now use {tenant.name}.")
        else:
            Invitation.objects.get_or_create(tenant=tenant, email=form.email, defaults={"invited_by": request.user})
            messages.success(request, f"{form.email} will join {tenant.name} when they sign up with that e-mail.")
    return redirect(tenant)


@login_required
@require_POST
def payer_remove_member(request, slug, membership_id):
    tenant, mine = _get_payer_for_user(request, slug)
    if mine.role != Membership.Role.OWNER:
        return HttpResponseForbidden("Only an owner of this payer can remove members.")
    membership = get_object_or_404(Membership, pk=membership_id, tenant=tenant)
    if membership.role == Membership.Role.OWNER and tenant.memberships.owners().count() == 1:
        messages.error(request, "The last owner cannot be removed; delete the payer instead.")
    else:
        membership.delete()
        messages.success(request, f"{membership.user.username} no longer has access to {tenant.name}.")
    return redirect(tenant)


@login_required
def payer_delete(request, slug):
    tenant, mine = _get_payer_for_user(request, slug)
    if mine.role != Membership.Role.OWNER:
        return HttpResponseForbidden("Only an owner of this payer can delete it.")
    error = None
    if request.method == "POST":
        if request.POST.get("confirm_slug", "").strip() != tenant.slug:
            error = f"Type {tenant.slug} to confirm."
        else:
            name = tenant.name
            provisioning.delete_payer(tenant)
            messages.success(request, f"{name} and all its data were deleted.")
            return redirect("dashboard")
    return render(request, "tenants/payer_delete.html", {"tenant": tenant, "error": error})


def tenant_home(request):
    """`/t/<slug>/`: what this payer serves, for a participant exploring by hand."""
    tenant = request.tenant
    return JsonResponse(
        {"name": tenant.name, "slug": tenant.slug, "pdexVersion": tenant.pdex_version, **tenant.endpoints()}
    )


@login_required
def api_token(request):
    """The user's personal token for the management API (/api/v1/); POST makes a new one."""
    from rest_framework.authtoken.models import Token

    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        Token.objects.create(user=request.user)
        messages.success(request, "A new API token was made; the old one no longer works.")
        return redirect("api-token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "tenants/api_token.html", {"token": token})
