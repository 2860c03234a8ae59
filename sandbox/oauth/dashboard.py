"""The Clients page of a payer on the dashboard: OAuth clients, test tokens, provider users."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_application_model

from sandbox.oauth import registration
from sandbox.oauth.forms import ClientForm, MintTokenForm, ProviderUserForm, TokenLifetimeForm
from sandbox.oauth.models import ProviderUser
from sandbox.oauth.tokens import MINT_CLIENT_NAME, mint_token
from tenants.context import tenant_scope
from tenants.views import _get_payer_for_user


def _page(request, tenant, **forms):
    with tenant_scope(tenant):
        clients = list(
            get_application_model()
            .objects.exclude(name=MINT_CLIENT_NAME)
            .select_related("directory_entry")
            .order_by("-created")
        )
        provider_users = list(ProviderUser.objects.select_related("user"))
    context = {
        "tenant": tenant,
        "clients": clients,
        "provider_users": provider_users,
        "client_form": forms.get("client_form") or ClientForm(),
        "mint_form": forms.get("mint_form") or MintTokenForm(),
        "provider_form": forms.get("provider_form") or ProviderUserForm(),
        "lifetime_form": forms.get("lifetime_form")
        or TokenLifetimeForm(initial={"access_token_lifetime": tenant.access_token_lifetime}),
        "created": forms.get("created"),
        "minted": forms.get("minted"),
    }
    return render(request, "oauth/clients.html", context)


@login_required
def clients(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    return _page(request, tenant)


@login_required
@require_POST
def register_client(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = ClientForm(request.POST)
    if not form.is_valid():
        return _page(request, tenant, client_form=form)
    try:
        with tenant_scope(tenant):
            created = registration.register_manually(tenant, form.metadata())
    except registration.RegistrationError as exc:
        form.add_error(None, exc.description)
        return _page(request, tenant, client_form=form)
    return _page(request, tenant, created=created)


@login_required
@require_POST
def revoke_client(request, slug, client_id):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        application = get_object_or_404(get_application_model(), client_id=client_id, revoked_at__isnull=True)
        registration.revoke(application)
    messages.success(request, f"Client {application.name} ({client_id}) is revoked; its tokens no longer work.")
    return redirect("oauth-clients", slug=slug)


@login_required
@require_POST
def mint(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = MintTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, tenant, mint_form=form)
    token = mint_token(tenant, scope=form.cleaned_data["scope"], lifetime=form.cleaned_data["lifetime"])
    return _page(request, tenant, minted=token)


@login_required
@require_POST
def add_provider_user(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = ProviderUserForm(request.POST)
    if not form.is_valid():
        return _page(request, tenant, provider_form=form)
    try:
        with tenant_scope(tenant):
            ProviderUser.objects.create(
                user=form.user,
                organization_npi=form.cleaned_data["organization_npi"],
                organization_name=form.cleaned_data["organization_name"],
            )
    except IntegrityError:
        form.add_error("who", f"{form.user.username} is already a provider user of this payer.")
        return _page(request, tenant, provider_form=form)
    messages.success(request, f"{form.user.username} can now sign in to {tenant.name}'s authorization server.")
    return redirect("oauth-clients", slug=slug)


@login_required
@require_POST
def remove_provider_user(request, slug, provider_user_id):
    tenant, _ = _get_payer_for_user(request, slug)
    with tenant_scope(tenant):
        provider_user = get_object_or_404(ProviderUser, pk=provider_user_id)
        provider_user.delete()
    messages.success(request, f"{provider_user.user.username} is no longer a provider user of {tenant.name}.")
    return redirect("oauth-clients", slug=slug)


@login_required
@require_POST
def token_lifetime(request, slug):
    tenant, _ = _get_payer_for_user(request, slug)
    form = TokenLifetimeForm(request.POST)
    if not form.is_valid():
        return _page(request, tenant, lifetime_form=form)
    tenant.access_token_lifetime = form.cleaned_data["access_token_lifetime"]
    tenant.save(update_fields=["access_token_lifetime"])
    messages.success(request, f"New access tokens of {tenant.name} live {tenant.access_token_lifetime} seconds.")
    return redirect("oauth-clients", slug=slug)
