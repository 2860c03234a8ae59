"""
The mTLS endpoint directory as FHIR: one PDex `mtls-bundle` per entry (PDex payer-to-payer,
"mTLS endpoint bundle"; spec/payer-to-payer.md §1), searchable Organization and Endpoint
resources, and export/import in the layout of the public Payer-Payer git repository
(`bundles/<name>.json`, one bundle per payer).

Entries made here (payers, registered participants) are rendered from the database on
every request; imported entries keep the bundle exactly as received, so export gives the
file back unchanged.
"""

import base64
import binascii
import io
import json
import re
import zipfile
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from jwcrypto import jwk, jws

from sandbox.trust import authority as ca
from sandbox.trust import certificates
from sandbox.trust.models import Certificate, CertificateAuthority, DirectoryEntry
from tenants.models import Tenant

PDEX_SD = "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/"
NDH_SD = "http://hl7.org/fhir/us/ndh/StructureDefinition/"
DIRECTORY_QUERY_SD = "http://hl7.org/fhir/us/directory-query/StructureDefinition/"
MTLS_BUNDLE_PROFILE = PDEX_SD + "mtls-bundle"
MTLS_ORGANIZATION_PROFILE = PDEX_SD + "mtls-organization"
MTLS_ENDPOINT_PROFILE = PDEX_SD + "mtls-endpoint"
SIGNED_OBJECT = PDEX_SD + "pdex-mtls-signedobject-extension"
# The secure-exchange-artifacts extension under the three canonical bases seen in the wild.
SECURE_EXCHANGE_URLS = {
    PDEX_SD + "base-ext-secureExchangeArtifacts",
    NDH_SD + "base-ext-secureExchangeArtifacts",
    DIRECTORY_QUERY_SD + "secureExchangeArtifacts",
}
NAIC_SYSTEM = "urn:oid:2.16.840.1.113883.6.300"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TIN_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
EXPORT_DIR = "bundles"


def _b64(der):
    return base64.b64encode(bytes(der)).decode()


def _instant(dt):
    return dt.astimezone(ca.datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- rendering ------------------------------------------------------------------------------


def _identifiers(entry):
    out = [{"system": "urn:ietf:rfc:3986", "value": f"{settings.SANDBOX_PUBLIC_URL}/directory/{entry.slug}"}]
    for system, value, code, display in (
        (NAIC_SYSTEM, entry.naic, None, "NAIC"),
        (NPI_SYSTEM, entry.npi, "NPI", "National provider identifier"),
        (TIN_SYSTEM, entry.tin, "TAX", "Tax ID number"),
    ):
        if value:
            identifier = {"system": system, "value": value}
            if code:
                identifier["type"] = {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": code, "display": display}
                    ]
                }
            out.append(identifier)
    return out


def _payer_org_id(entry):
    return entry.slug


def _operator_org_id(entry):
    return f"{entry.slug}-operator"


def _endpoint_id(entry):
    return f"{entry.slug}-endpoint"


def _organizations(entry):
    payer = {
        "resourceType": "Organization",
        "id": _payer_org_id(entry),
        "meta": {"profile": [MTLS_ORGANIZATION_PROFILE]},
        "identifier": _identifiers(entry),
        "active": entry.is_active,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/OrgTypeCS",
                        "code": "payer",
                        "display": "Payer",
                    }
                ]
            },
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "pay",
                        "display": "Payer",
                    }
                ]
            },
        ],
        "name": entry.name,
        "telecom": [{"system": "url", "value": entry.endpoint_url or f"{settings.SANDBOX_PUBLIC_URL}/directory/"}],
    }
    operator = {
        "resourceType": "Organization",
        "id": _operator_org_id(entry),
        "meta": {"profile": [MTLS_ORGANIZATION_PROFILE]},
        "identifier": [
            {"system": "urn:ietf:rfc:3986", "value": f"{settings.SANDBOX_PUBLIC_URL}/directory/{entry.slug}#operator"}
        ],
        "active": entry.is_active,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "bus",
                        "display": "Non-Healthcare Business or Corporation",
                    }
                ]
            }
        ],
        "name": entry.operator_name or entry.name,
        "telecom": [{"system": "url", "value": f"{settings.SANDBOX_PUBLIC_URL}/directory/"}],
    }
    return payer, operator


def published_certificates(entry):
    """The certificates an entry publishes: its usable server/client/participant/pinned ones."""
    return list(
        entry.certificates.usable()
        .filter(
            purpose__in=[
                Certificate.Purpose.SERVER,
                Certificate.Purpose.CLIENT,
                Certificate.Purpose.PARTICIPANT,
                Certificate.Purpose.PINNED,
            ],
            not_after__gt=timezone.now(),
        )
        .order_by("purpose", "-created_at")
    )


def _issuing_authority(entry):
    if entry.kind == DirectoryEntry.Kind.TENANT:
        return CertificateAuthority.objects.filter(
            kind=CertificateAuthority.Kind.TENANT, tenant_id=entry.tenant_id
        ).first()
    if entry.kind == DirectoryEntry.Kind.PARTICIPANT:
        return (
            entry.authorities.first()
            or CertificateAuthority.objects.filter(kind=CertificateAuthority.Kind.PARTICIPANTS).first()
        )
    return None


def _endpoint(entry):
    certs = published_certificates(entry)
    extensions = []
    for cert in certs:
        extensions.append(
            {
                "url": SIGNED_OBJECT,
                "extension": [
                    {
                        "url": "ObjectType",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/MtlsObjectCodeCS",
                                    "code": "MTLS",
                                }
                            ]
                        },
                    },
                    {"url": "Object", "valueBase64Binary": _b64(cert.der)},
                ],
            }
        )
    for cert in certs:
        extensions.append(
            {
                "url": PDEX_SD + "base-ext-secureExchangeArtifacts",
                "extension": [
                    {
                        "url": "secureExchangeArtifactsType",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/us/ndh/CodeSystem/NdhSecureExchangeArtifactsCS",
                                    "code": "x509-ssl-tls-certificates",
                                }
                            ]
                        },
                    },
                    {"url": "certificate", "valueBase64Binary": _b64(cert.der)},
                    {"url": "expirationDate", "valueDateTime": _instant(cert.not_after)},
                ],
            }
        )
    authority = _issuing_authority(entry)
    if authority is not None:
        extensions.append(
            {
                "url": PDEX_SD + "base-ext-trustFramework",
                "extension": [
                    {
                        "url": "trustFrameworkType",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/TrustFrameworkTypeCS",
                                    "code": "PayerToPayer",
                                }
                            ]
                        },
                    },
                    {"url": "qualifier", "valueString": "Yes"},
                    {"url": "publicCertificate", "valueBase64Binary": _b64(authority.certificate_der)},
                ],
            }
        )
    extensions += [
        {
            "url": PDEX_SD + "base-ext-endpoint-usecase",
            "extension": [
                {
                    "url": "endpointUsecasetype",
                    "valueCodeableConcept": {
                        "coding": [
                            {
                                "system": "http://hl7.org/fhir/us/ndh/CodeSystem/NdhFhirEndpointUseCaseCS",
                                "code": "payerToPayer",
                            }
                        ]
                    },
                },
                {"url": "standard", "valueUri": "hl7.org/fhir/us/davinci-pdex"},
            ],
        },
        {
            "url": PDEX_SD + "base-ext-endpointAccessControlMechanism",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/ndh/CodeSystem/EndpointAccessControlMechanismCS",
                        "code": "mutual-tls",
                    }
                ]
            },
        },
    ]
    if entry.tenant_id:
        extensions.append(
            {
                "url": PDEX_SD + "base-ext-associatedServers",
                "extension": [
                    {
                        "url": "associatedServersType",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/us/ndh/CodeSystem/NdhAssociatedServersTypeCS",
                                    "code": "authorization-authentication-server",
                                }
                            ]
                        },
                    },
                    {"url": "serverURL", "valueString": entry.tenant.endpoints()["registration_url"]},
                ],
            }
        )
    return {
        "resourceType": "Endpoint",
        "id": _endpoint_id(entry),
        "meta": {"profile": [MTLS_ENDPOINT_PROFILE]},
        "extension": extensions,
        "identifier": [
            {"value": _endpoint_id(entry), "assigner": {"reference": f"Organization/{_operator_org_id(entry)}"}}
        ],
        "status": "active" if entry.is_active and certs else "off",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest",
            "display": "HL7 FHIR",
        },
        "name": "Payer-Payer Exchange",
        "managingOrganization": {"reference": f"Organization/{_payer_org_id(entry)}", "display": entry.name},
        "payloadType": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "not-applicable",
                        "display": "Not Applicable",
                    }
                ]
            }
        ],
        "payloadMimeType": ["application/fhir+json"],
        "address": entry.endpoint_url or f"{settings.SANDBOX_PUBLIC_URL}/directory/{entry.slug}",
    }


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_bundle(bundle, authority):
    """
    Bundle.signature for the PDex mtls-bundle: a detached JWS (RFC 7515 appendix F, ES256,
    `x5c` = the signing CA) over the bundle without its signature, serialised as JSON with
    sorted keys and no whitespace; `data` is base64 of that compact JWS.
    """
    key = ca.authority_key(authority)
    signer = jws.JWS(_canonical(bundle))
    protected = {"alg": "ES256", "x5c": [_b64(authority.certificate_der)], "typ": "JOSE"}
    signer.add_signature(jwk.JWK.from_pyca(key), alg="ES256", protected=json.dumps(protected))
    header, _payload, signature = signer.serialize(compact=True).split(".")
    bundle_with_signature = dict(bundle)
    bundle_with_signature["signature"] = {
        "type": [
            {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1", "display": "Author's Signature"}
        ],
        "when": bundle["timestamp"],
        "who": {"reference": f"Organization/{bundle['entry'][0]['resource']['id']}"},
        "targetFormat": "application/fhir+json",
        "sigFormat": "application/jose",
        "data": base64.b64encode(f"{header}..{signature}".encode()).decode(),
    }
    return bundle_with_signature


def verify_bundle_signature(bundle):
    """True when a bundle signed by `sign_bundle` verifies against the CA in its `x5c`."""
    signature = bundle.get("signature") or {}
    if signature.get("sigFormat") != "application/jose":
        return False
    header, _, sig = base64.b64decode(signature["data"]).decode().split(".")
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    payload = base64.urlsafe_b64encode(_canonical(unsigned)).rstrip(b"=").decode()
    protected = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    from cryptography import x509

    anchor = x509.load_der_x509_certificate(base64.b64decode(protected["x5c"][0]))
    verifier = jws.JWS()
    try:
        verifier.deserialize(f"{header}.{payload}.{sig}")
        verifier.verify(jwk.JWK.from_pyca(anchor.public_key()))
    except jws.InvalidJWSSignature:
        return False
    return True


def entry_bundle(entry):
    """The entry's PDex mtls-bundle (collection Bundle with timestamp and signature)."""
    if entry.kind == DirectoryEntry.Kind.IMPORTED and entry.source_bundle:
        return entry.source_bundle
    payer, operator = _organizations(entry)
    endpoint = _endpoint(entry)
    base = f"{settings.SANDBOX_PUBLIC_URL}/directory/fhir"
    bundle = {
        "resourceType": "Bundle",
        "id": entry.slug,
        "meta": {"lastUpdated": _instant(entry.updated_at), "profile": [MTLS_BUNDLE_PROFILE]},
        "type": "collection",
        "timestamp": _instant(entry.updated_at),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in (payer, operator, endpoint)
        ],
    }
    authority = _issuing_authority(entry)
    if authority is not None and authority.can_issue:
        return sign_bundle(bundle, authority)
    return bundle


def entries():
    """Every directory entry; payers that lack one get it now (the directory lists all payers).
    A payer still being created, or whose creation failed, is not listed."""
    certificates.sync_tenant_entries()
    return (
        DirectoryEntry.objects.select_related("tenant")
        .exclude(kind=DirectoryEntry.Kind.TENANT, tenant__status__in=[Tenant.Status.PROVISIONING, Tenant.Status.FAILED])
        .order_by("name", "slug")
    )


def resources(resource_type=None):
    """(entry, resource) for every Bundle, Organization and Endpoint of the directory."""
    out = []
    for entry in entries():
        bundle = entry_bundle(entry)
        if resource_type in (None, "Bundle"):
            out.append((entry, bundle))
        for item in bundle.get("entry", []):
            resource = item.get("resource") or {}
            if resource_type in (None, resource.get("resourceType")):
                out.append((entry, resource))
    return out


# -- search ---------------------------------------------------------------------------------

SEARCH_PARAMS = {
    "Bundle": {"_id", "identifier"},
    "Organization": {"_id", "name", "identifier", "active"},
    "Endpoint": {"_id", "name", "identifier", "status", "organization", "organization.name", "connection-type"},
}


class SearchError(ValueError):
    pass


def _string_match(value, wanted, exact=False):
    if not isinstance(value, str):
        return False
    return value == wanted if exact else value.lower().startswith(wanted.lower())


def _token_match(identifiers, wanted):
    system, _, value = wanted.rpartition("|") if "|" in wanted else (None, None, wanted)
    if isinstance(identifiers, dict):  # Bundle.identifier is 0..1
        identifiers = [identifiers]
    for identifier in identifiers or []:
        if identifier.get("value") != value:
            continue
        if system is None or identifier.get("system", "") == system:
            return True
    return False


def managing_organization_id(endpoint):
    """The id of an Endpoint's managing Organization; some published bundles carry it as a
    logical reference (`identifier.value` "Organization/<id>") instead of `reference`."""
    managing = endpoint.get("managingOrganization") or {}
    reference = managing.get("reference") or (managing.get("identifier") or {}).get("value") or ""
    return reference.rpartition("/")[2]


def _org_names(resource):
    names = [resource.get("name")] if resource.get("name") else []
    return names + list(resource.get("alias") or [])


def search(resource_type, params):
    """
    FHIR search over the directory: `_id`, `name` (string, prefix, case-insensitive;
    `:exact`), `identifier` (token, `system|value` or `value`), `status`, `active`,
    `organization` (reference) and `organization.name` on Endpoint (chained via
    managingOrganization within the same bundle). Returns matching resources.
    """
    allowed = SEARCH_PARAMS[resource_type]
    criteria = []
    for raw_name, values in params.lists():
        if raw_name.startswith("_") and raw_name not in ("_id",):
            continue
        name, _, modifier = raw_name.partition(":")
        if name not in allowed:
            raise SearchError(f"Unknown search parameter '{raw_name}' for {resource_type}.")
        for value in values:
            criteria.append((name, modifier, value))

    all_items = resources()
    orgs_by_entry = {}
    for entry, resource in all_items:
        if resource.get("resourceType") == "Organization":
            orgs_by_entry.setdefault(entry.pk, {})[resource.get("id")] = resource

    def matches(entry, resource):
        for name, modifier, value in criteria:
            alternatives = value.split(",")
            if not any(_match_one(entry, resource, name, modifier, v, orgs_by_entry) for v in alternatives):
                return False
        return True

    return [r for e, r in all_items if r.get("resourceType") == resource_type and matches(e, r)]


def _match_one(entry, resource, name, modifier, value, orgs_by_entry):
    if name == "_id":
        return resource.get("id") == value
    if name == "name":
        return any(_string_match(n, value, modifier == "exact") for n in _org_names(resource))
    if name == "identifier":
        return _token_match(resource.get("identifier"), value)
    if name == "status":
        return resource.get("status") == value
    if name == "active":
        return str(resource.get("active", True)).lower() == value.lower()
    if name == "connection-type":
        return (resource.get("connectionType") or {}).get("code") == value.rpartition("|")[2]
    org_id = managing_organization_id(resource)
    if name == "organization":
        return org_id == value.rpartition("/")[2]
    if name == "organization.name":
        org = orgs_by_entry.get(entry.pk, {}).get(org_id)
        return org is not None and any(_string_match(n, value, modifier == "exact") for n in _org_names(org))
    return False


def read(resource_type, resource_id):
    """One resource by id; a Bundle is also found by its entry's slug, since imported bundles
    often share the id of the IG example ("example-mtls-endpoint-bundle")."""
    if resource_type == "Bundle":
        entry = entries().filter(slug=resource_id).first()
        if entry is not None:
            return entry_bundle(entry)
    for _entry, resource in resources(resource_type):
        if resource.get("id") == resource_id:
            return resource
    return None


def searchset(resource_type, found, self_url):
    base = f"{settings.SANDBOX_PUBLIC_URL}{reverse('directory-fhir-base')}"
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {"fullUrl": f"{base}{resource_type}/{r.get('id')}", "resource": r, "search": {"mode": "match"}}
            for r in found
        ],
    }


# -- export ---------------------------------------------------------------------------------


def export_files():
    """{relative path: JSON text}: the whole directory in the Payer-Payer repository layout."""
    files = {}
    for entry in entries():
        name = entry.source_name if entry.kind == DirectoryEntry.Kind.IMPORTED and entry.source_name else ""
        name = name.rsplit("/", 1)[-1] or f"mtls-bundle-{entry.slug}.json"
        path = f"{EXPORT_DIR}/{name}"
        if path in files:
            path = f"{EXPORT_DIR}/mtls-bundle-{entry.slug}.json"
        files[path] = json.dumps(entry_bundle(entry), indent=2, ensure_ascii=False) + "\n"
    return files


def export_zip():
    """The export as a zip archive (bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(export_files().items()):
            archive.writestr(f"payer-directory/{path}", text)
    return buffer.getvalue()


def export_to(directory):
    """Write the export under `directory` (creating `bundles/`); returns the paths written."""
    from pathlib import Path

    written = []
    for path, text in sorted(export_files().items()):
        target = Path(directory) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


# -- import ---------------------------------------------------------------------------------


class BundleRejected(ValueError):
    """A bundle file cannot be imported; nothing from it was stored. The message says why."""


@dataclass
class ImportReport:
    imported: list = field(default_factory=list)  # (file name, DirectoryEntry)
    rejected: list = field(default_factory=list)  # (file name, message)

    @property
    def ok(self):
        return not self.rejected


def _decode_certificate(value, where):
    """One base64Binary certificate value: base64 of DER, or base64 of PEM text (CareEvolution)."""
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise BundleRejected(f"{where} is not valid base64") from None
    if raw.lstrip().startswith(b"-----BEGIN CERTIFICATE"):
        kind = "base64 PEM"
    elif raw[:1] == b"\x30":
        kind = "base64 DER"
    else:
        sample = raw[:20].decode("latin-1").strip()
        raise BundleRejected(f"{where} is not an X.509 certificate (it decodes to {sample!r}…)")
    try:
        return ca.load_certificates(raw)[0]
    except ca.CertificateError as exc:
        raise BundleRejected(f"{where} holds a malformed certificate ({kind}: {exc})") from None


def endpoint_certificates(endpoint):
    """Every certificate an Endpoint carries in pdex-mtls-signedobject-extension (Object) and
    secureExchangeArtifacts (certificate), under any of the three extension URL bases."""
    label = f"Endpoint '{endpoint.get('id', '?')}'"
    found = []
    for extension in endpoint.get("extension") or []:
        url = extension.get("url", "")
        if url == SIGNED_OBJECT or url.endswith("/pdex-mtls-signedobject-extension"):
            slot, short = "Object", "pdex-mtls-signedobject-extension"
        elif url in SECURE_EXCHANGE_URLS:
            slot, short = "certificate", url.rsplit("/", 1)[-1]
        else:
            continue
        for sub in extension.get("extension") or []:
            if sub.get("url") == slot and "valueBase64Binary" in sub:
                found.append(_decode_certificate(sub["valueBase64Binary"], f"{label}: {short}.{slot}"))
    return found


@dataclass
class ParsedBundle:
    slug: str
    name: str
    endpoint_url: str
    naic: str
    npi: str
    tin: str
    certificates: list


def parse_bundle(bundle):
    """Read one mtls-bundle: payer Organization, Endpoint and certificates; raises BundleRejected."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRejected("not a FHIR Bundle")
    if bundle.get("type") != "collection":
        raise BundleRejected(f"Bundle.type is '{bundle.get('type')}', but an mtls-bundle is a collection")
    items = [e.get("resource") or {} for e in bundle.get("entry") or []]
    organizations = {r.get("id"): r for r in items if r.get("resourceType") == "Organization"}
    endpoints = [r for r in items if r.get("resourceType") == "Endpoint"]
    if not endpoints:
        raise BundleRejected("no Endpoint entry, so no usable certificate")
    endpoint = endpoints[0]
    certs = []
    for candidate in endpoints:
        certs += endpoint_certificates(candidate)
    if not certs:
        raise BundleRejected(
            f"Endpoint '{endpoint.get('id', '?')}' has no usable certificate "
            "(none in pdex-mtls-signedobject-extension or secureExchangeArtifacts)"
        )
    org = organizations.get(managing_organization_id(endpoint)) or next(iter(organizations.values()), None)
    if org is None or not org.get("id"):
        raise BundleRejected("no payer Organization with an id")
    slug = org["id"]
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", slug):
        raise BundleRejected(f"Organization id '{slug}' is not a valid FHIR id")
    identifiers = {i.get("system"): i.get("value", "") for i in org.get("identifier") or []}
    unique, seen = [], set()
    for cert in certs:
        tp = ca.thumbprint(cert.public_bytes(serialization.Encoding.DER))
        if tp not in seen:
            seen.add(tp)
            unique.append((tp, cert))
    return ParsedBundle(
        slug=slug,
        name=org.get("name") or slug,
        endpoint_url=endpoint.get("address", "")[:500],
        naic=identifiers.get(NAIC_SYSTEM, "")[:20],
        npi=identifiers.get(NPI_SYSTEM, "")[:20],
        tin=identifiers.get(TIN_SYSTEM, "")[:20],
        certificates=unique,
    )


def import_bundle(name, data, *, created_by=None):
    """
    Import one bundle file (bytes or parsed JSON) as a directory entry, or raise
    BundleRejected naming the entry and the reason; a rejected file stores nothing.
    Re-importing a bundle for an entry that was itself imported replaces that entry.
    """
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise BundleRejected(f"not JSON ({exc})") from None
    parsed = parse_bundle(data)
    with transaction.atomic():
        payer = Tenant.objects.filter(slug=parsed.slug).first()
        if payer is not None:
            raise BundleRejected(
                f"Organization '{parsed.slug}': duplicate identity, the id already names the "
                f"directory entry of {payer.name} (simulated payer)"
            )
        existing = DirectoryEntry.objects.filter(slug=parsed.slug).first()
        if existing is not None and existing.kind != DirectoryEntry.Kind.IMPORTED:
            raise BundleRejected(
                f"Organization '{parsed.slug}': duplicate identity, the id already names the "
                f"directory entry of {existing.name} ({existing.get_kind_display().lower()})"
            )
        if existing is not None and not _may_replace(existing, created_by):
            raise BundleRejected(
                f"Organization '{parsed.slug}': duplicate identity, {existing.name} was imported by "
                "another user, who alone may replace it"
            )
        for tp, cert in parsed.certificates:
            owner = Certificate.objects.filter(thumbprint=tp).select_related("entry").first()
            if owner is not None and (existing is None or owner.entry_id != existing.pk):
                holder = owner.entry.name if owner.entry else "a payer's test certificate"
                holder_slug = f" ({owner.entry.slug})" if owner.entry else ""
                raise BundleRejected(
                    f"Organization '{parsed.slug}': duplicate identity, certificate "
                    f"'{cert.subject.rfc4514_string()}' (x5t#S256 {tp}) already belongs to {holder}{holder_slug}"
                )
        if existing is not None:
            existing.delete()
        entry = DirectoryEntry.objects.create(
            kind=DirectoryEntry.Kind.IMPORTED,
            slug=parsed.slug,
            name=parsed.name[:200],
            operator_name=parsed.name[:200],
            endpoint_url=parsed.endpoint_url,
            naic=parsed.naic,
            npi=parsed.npi,
            tin=parsed.tin,
            created_by=created_by,
            source_bundle=data,
            source_name=str(name).rsplit("/", 1)[-1][:200],
        )
        for _tp, cert in parsed.certificates:
            ca.store_certificate(cert, purpose=Certificate.Purpose.PINNED, entry=entry)
        certificates.trust_changed()
    return entry


def _may_replace(existing, user):
    # The command line (no user) and superusers may refresh any import; a dashboard user
    # only their own, so nobody can take over another participant's entry by re-importing it.
    if user is None or user.is_superuser:
        return True
    return existing.created_by_id in (None, user.pk)


def import_files(files, *, created_by=None):
    """Import several (name, bytes) files, each on its own; returns an ImportReport."""
    report = ImportReport()
    for name, data in files:
        try:
            entry = import_bundle(name, data, created_by=created_by)
        except BundleRejected as exc:
            report.rejected.append((name, str(exc)))
        else:
            report.imported.append((name, entry))
    return report


def files_from_upload(name, data):
    """(name, bytes) pairs from an uploaded .json file or a .zip of the repository layout."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [
                (info.filename, archive.read(info))
                for info in archive.infolist()
                if info.filename.endswith(".json") and not info.is_dir()
            ]
    return [(name, data)]


def files_from_directory(path):
    """(name, bytes) for every bundle in a Payer-Payer checkout (`bundles/*.json`, else `*.json`)."""
    from pathlib import Path

    root = Path(path)
    candidates = sorted((root / EXPORT_DIR).glob("*.json")) if (root / EXPORT_DIR).is_dir() else []
    if not candidates:
        candidates = sorted(root.glob("*.json")) if root.is_dir() else [root]
    return [(str(p.name), p.read_bytes()) for p in candidates]
