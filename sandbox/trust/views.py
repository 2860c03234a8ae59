"""The endpoint directory: human view, FHIR API, export/import, participants, CAs and CRLs."""

import hashlib
import hmac
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from sandbox.fhirstore.outcome import fhir_response, outcome_response
from sandbox.trust import authority as ca
from sandbox.trust import certificates, directory
from sandbox.trust.forms import ImportForm, ParticipantForm
from sandbox.trust.models import Certificate, CertificateAuthority, DirectoryEntry

PEM = "application/x-pem-file"


def pkcs12_password(certificate):
    """A stable PKCS#12 password for a certificate, shown only to whoever may download its key."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"p12:{certificate.thumbprint}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def download(content, filename, content_type):
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# -- human view -----------------------------------------------------------------------------


def directory_home(request):
    entries = list(directory.entries().prefetch_related("certificates"))
    rows = []
    for entry in entries:
        published = directory.published_certificates(entry)
        rows.append({"entry": entry, "certificates": published})
    context = {
        "rows": rows,
        "authorities": CertificateAuthority.objects.select_related("tenant", "entry").order_by("kind", "name"),
        "import_form": ImportForm(),
    }
    return render(request, "trust/directory.html", context)


def entry_detail(request, slug):
    entry = get_object_or_404(DirectoryEntry, slug=slug)
    bundle = directory.entry_bundle(entry)
    can_manage = _can_manage(request, entry)
    rows = [
        {"certificate": c, "p12_password": pkcs12_password(c) if can_manage and c.has_key else ""}
        for c in entry.certificates.order_by("purpose", "-created_at")
    ]
    context = {
        "entry": entry,
        "rows": rows,
        "authorities": entry.authorities.all(),
        "bundle_json": json.dumps(bundle, indent=2),
        "can_manage": can_manage,
    }
    return render(request, "trust/entry.html", context)


def _can_manage(request, entry):
    user = request.user
    if not user.is_authenticated:
        return False
    if entry.kind == DirectoryEntry.Kind.TENANT:
        return entry.tenant.is_member(user)
    return user.is_superuser or entry.created_by_id == user.pk


@require_GET
def mtls_whoami(request):
    """What the sandbox made of this connection's client certificate (for debugging clients)."""
    mtls = request.mtls
    body = mtls.as_dict()
    if mtls.verified:
        body["identity"] = mtls.identity.as_dict()
    return JsonResponse(body, status=200 if mtls.verified else 401)


# -- certificates and CAs (public material) --------------------------------------------------


def ca_pem(request, pk):
    authority = get_object_or_404(CertificateAuthority, pk=pk)
    return download(ca.to_pem(authority.certificate_der), f"ca-{authority.pk}.pem", PEM)


def ca_crl(request, pk):
    authority = get_object_or_404(CertificateAuthority, pk=pk)
    if not authority.can_issue:
        raise Http404("The sandbox does not hold this CA's key, so it publishes no CRL for it.")
    response = HttpResponse(ca.build_crl(authority), content_type="application/pkix-crl")
    response["Cache-Control"] = "no-cache"
    return response


def certificate_pem(request, pk):
    certificate = get_object_or_404(Certificate, pk=pk)
    return download(ca.to_pem(certificate.der), f"certificate-{certificate.pk}.pem", PEM)


# -- FHIR -----------------------------------------------------------------------------------


def fhir_base(request):
    return fhir_response(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "date": "2026-01-01",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": t,
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "searchParam": [
                                {"name": n, "type": "string" if "name" in n else "token"} for n in sorted(p)
                            ],
                        }
                        for t, p in directory.SEARCH_PARAMS.items()
                    ],
                }
            ],
        }
    )


def fhir_search(request, resource_type):
    if resource_type not in directory.SEARCH_PARAMS:
        return outcome_response(
            404, "not-supported", f"The directory serves Bundle, Organization and Endpoint, not {resource_type}."
        )
    try:
        found = directory.search(resource_type, request.GET)
    except directory.SearchError as exc:
        return outcome_response(400, "invalid", str(exc))
    self_url = request.build_absolute_uri()
    return fhir_response(directory.searchset(resource_type, found, self_url))


def fhir_read(request, resource_type, resource_id):
    if resource_type not in directory.SEARCH_PARAMS:
        return outcome_response(
            404, "not-supported", f"The directory serves Bundle, Organization and Endpoint, not {resource_type}."
        )
    resource = directory.read(resource_type, resource_id)
    if resource is None:
        return outcome_response(404, "not-found", f"{resource_type}/{resource_id} is not in the directory.")
    return fhir_response(resource)


# -- export / import ------------------------------------------------------------------------


def export_zip(request):
    return download(directory.export_zip(), "payer-directory.zip", "application/zip")


@login_required
@require_POST
def import_bundles(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a bundle JSON file or a zip to import.")
        return redirect("directory-home")
    upload = form.cleaned_data["bundle"]
    files = directory.files_from_upload(upload.name, upload.read(20_000_000))
    report = directory.import_files(files, created_by=request.user)
    for name, entry in report.imported:
        messages.success(request, f"{name}: imported {entry.name} ({entry.slug}).")
    for name, reason in report.rejected:
        messages.error(request, f"{name}: rejected, nothing imported from it. {reason}.")
    return redirect("directory-home")


# -- participants ---------------------------------------------------------------------------


@login_required
def participant_new(request):
    form = ParticipantForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {
            "endpoint_url": data["endpoint_url"],
            "naic": data["naic"],
            "npi": data["npi"],
            "tin": data["tin"],
            "created_by": request.user,
        }
        method = data["method"]
        try:
            if method == ParticipantForm.Method.GENERATE:
                entry, _cert, _key = certificates.register_participant(data["name"], **fields)
            elif method == ParticipantForm.Method.CSR:
                entry, _cert, _key = certificates.register_participant(data["name"], csr_pem=data["pem"], **fields)
            elif method == ParticipantForm.Method.CERTIFICATE:
                entry, _cert = certificates.register_participant_certificate(data["name"], data["pem"], **fields)
            else:
                entry, _authority = certificates.register_participant_authority(data["name"], data["pem"], **fields)
        except ca.CertificateError as exc:
            form.add_error("pem", str(exc))
        else:
            messages.success(request, f"{entry.name} is in the directory.")
            return redirect("directory-entry", slug=entry.slug)
    return render(request, "trust/participant_form.html", {"form": form})


def _managed_entry(request, slug):
    entry = get_object_or_404(DirectoryEntry, slug=slug)
    if not _can_manage(request, entry):
        raise Http404("No such directory entry of yours.")
    return entry


def _managed_certificate(request, slug, pk):
    entry = _managed_entry(request, slug)
    return entry, get_object_or_404(Certificate, pk=pk, entry=entry)


@login_required
def participant_key(request, slug, pk):
    entry, certificate = _managed_certificate(request, slug, pk)
    if not certificate.has_key:
        raise Http404("The sandbox does not hold this certificate's key.")
    return download(ca.key_to_pem(ca.certificate_key(certificate)), f"{entry.slug}-key.pem", PEM)


@login_required
def participant_pkcs12(request, slug, pk):
    entry, certificate = _managed_certificate(request, slug, pk)
    if not certificate.has_key:
        raise Http404("The sandbox does not hold this certificate's key.")
    chain = [ca.authority_certificate(certificate.authority)] if certificate.authority_id else []
    data = ca.pkcs12_bundle(certificate, ca.certificate_key(certificate), pkcs12_password(certificate), chain)
    return download(data, f"{entry.slug}.p12", "application/x-pkcs12")


@login_required
@require_POST
def entry_revoke(request, slug, pk):
    entry, certificate = _managed_certificate(request, slug, pk)
    certificates.revoke(certificate, f"revoked by {request.user.username}")
    messages.success(request, f"Certificate {certificate.subject} is revoked; it is refused from the next request on.")
    return redirect("directory-entry", slug=entry.slug)


@login_required
@require_POST
def entry_status(request, slug):
    entry = _managed_entry(request, slug)
    wanted = request.POST.get("status")
    if wanted in DirectoryEntry.Status.values:
        certificates.set_entry_status(entry, wanted)
        messages.success(request, f"{entry.name} is now {entry.get_status_display().lower()}.")
    return redirect("directory-entry", slug=entry.slug)
