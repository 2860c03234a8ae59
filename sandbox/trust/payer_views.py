"""A payer's certificates: list, issue, negative-test certificates, revoke, download (members only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from sandbox.trust import authority as ca
from sandbox.trust import certificates
from sandbox.trust.forms import NegativeCertificateForm
from sandbox.trust.models import Certificate
from sandbox.trust.views import PEM, download, pkcs12_password
from tenants.models import Membership


def _payer(request, slug):
    """The payer if the user is a member; 404 otherwise, so non-members learn nothing."""
    membership = Membership.objects.select_related("tenant").filter(tenant__slug=slug, user=request.user).first()
    if membership is None or not membership.tenant.is_ready:
        raise Http404("No such payer.")
    return membership.tenant


def _certificate(request, slug, pk):
    tenant = _payer(request, slug)
    return tenant, get_object_or_404(Certificate, pk=pk, tenant=tenant)


@login_required
def certificate_list(request, slug):
    tenant = _payer(request, slug)
    entry = certificates.ensure_tenant_credentials(tenant)
    rows = [
        {"certificate": c, "p12_password": pkcs12_password(c) if c.has_key else ""}
        for c in certificates.tenant_certificates(tenant).order_by("purpose", "-created_at")
    ]
    context = {
        "tenant": tenant,
        "entry": entry,
        "authority": certificates.tenant_authority(tenant),
        "rows": rows,
        "negative_form": NegativeCertificateForm(),
    }
    return render(request, "trust/payer_certificates.html", context)


@login_required
@require_POST
def issue_client(request, slug):
    tenant = _payer(request, slug)
    cert, _key = certificates.issue_client_certificate(tenant)
    messages.success(request, f"Issued a new client certificate ({cert.thumbprint[:12]}…).")
    return redirect("payer-certificates", slug=tenant.slug)


@login_required
@require_POST
def issue_negative(request, slug):
    tenant = _payer(request, slug)
    form = NegativeCertificateForm(request.POST)
    if form.is_valid():
        cert, _key = certificates.issue_negative_certificate(tenant, form.cleaned_data["defect"])
        messages.success(request, f"Issued a deliberately bad certificate: {cert.get_defect_display().lower()}.")
    else:
        messages.error(request, "Choose a kind of bad certificate.")
    return redirect("payer-certificates", slug=tenant.slug)


@login_required
@require_POST
def revoke(request, slug, pk):
    tenant, certificate = _certificate(request, slug, pk)
    certificates.revoke(certificate, f"revoked by {request.user.username}")
    messages.success(request, "Revoked; the certificate is refused from the next request on.")
    return redirect("payer-certificates", slug=tenant.slug)


@login_required
def certificate_pem(request, slug, pk):
    tenant, certificate = _certificate(request, slug, pk)
    chain = ca.to_pem(certificate.der)
    return download(chain, f"{tenant.slug}-{certificate.purpose}-{certificate.pk}.pem", PEM)


@login_required
def key_pem(request, slug, pk):
    tenant, certificate = _certificate(request, slug, pk)
    if not certificate.has_key:
        raise Http404("The sandbox holds no key for this certificate.")
    key = ca.certificate_key(certificate)
    return download(ca.key_to_pem(key), f"{tenant.slug}-{certificate.purpose}-{certificate.pk}-key.pem", PEM)


@login_required
def pkcs12(request, slug, pk):
    tenant, certificate = _certificate(request, slug, pk)
    if not certificate.has_key:
        raise Http404("The sandbox holds no key for this certificate.")
    chain = [ca.authority_certificate(certificate.authority)] if certificate.authority_id else []
    data = ca.pkcs12_bundle(certificate, ca.certificate_key(certificate), pkcs12_password(certificate), chain)
    return download(data, f"{tenant.slug}-{certificate.purpose}-{certificate.pk}.p12", "application/x-pkcs12")
