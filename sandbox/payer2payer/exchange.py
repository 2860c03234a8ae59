"""
The payer as client: a simulated payer, as the new payer, pulls a member's history from an old
payer found in the directory (PDex payer-to-payer "Connection & registration" flow;
spec/payer-to-payer.md §2.1, §3, §5).

A run goes through these steps, each recorded on the ExchangeRun with every HTTP exchange
(request, response, timing), a verdict against the guide and, when it fails, a plain-language
explanation:

1. find the old payer in the directory (only directory endpoints are ever called);
2. discover its token and registration endpoints (SMART configuration) over mutual TLS with
   this payer's client certificate, verifying the old payer's server certificate (the
   sandbox's listener CA for payers of this sandbox, the directory's certificates otherwise);
3. register by OAuth Dynamic Client Registration (RFC 7591) over that connection;
4. get a client-credentials token;
5. match the member with its demographics and earlier coverage at the old payer;
6. pull the member's data, by what the old payer's CapabilityStatement declares: PDex 2.1+
   bulk (`Group/$bulk-member-match` for the member, then `Group/[id]/$davinci-data-export`
   with exportType payertopayer), otherwise (2.0) `$member-match` then
   `Patient/[id]/$everything` (paged) and the Provenance about it;
7. store it here, re-homed under ids derived from the old payer's, with one Provenance naming
   the old payer as transmitter. A second run changes nothing that did not change there.

Every request has timeouts, a response size limit and a page limit, and may only go to the
origin (scheme, host, port) of the directory entry's endpoint.
"""

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import ssl
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import FhirError, NotFound
from sandbox.fhirstore.models import Resource
from sandbox.payer2payer.models import ExchangeRun
from sandbox.seeding.identifiers import NPI_SYSTEM
from tenants.context import tenant_scope

logger = logging.getLogger(__name__)

MEMBER_MATCH_SCOPE = "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
REQUEST_SCOPE = f"system/*.read {MEMBER_MATCH_SCOPE}"
POLICY_BASE = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#"
PDEX = "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
MAX_PAGES = 200
PAGE_SIZE = 200
POLL_SECONDS = 600
RECORDED_BODY_CHARS = 20_000
STORE_CHUNK = 200


# The old Patient is this payer's own member; Consents there record the old payer's
# authorization of each match (a new one per registered client), not member history.
NOT_STORED = ("Patient", "Consent")


class StepFailed(Exception):
    """A step could not go on; the message is the plain-language explanation shown to the user."""


# --- recording -----------------------------------------------------------------------------------


class Recorder:
    """The run's step-by-step report, saved after every change so the dashboard shows it live."""

    def __init__(self, tenant, run):
        self.tenant, self.run, self.steps = tenant, run, []

    def save(self, **fields):
        with tenant_scope(self.tenant):
            ExchangeRun.objects.filter(pk=self.run.pk).update(steps=self.steps, **fields)

    @contextmanager
    def step(self, title):
        step = {"title": title, "verdict": "running", "explanation": "", "checks": [], "exchanges": []}
        self.steps.append(step)
        self.save()
        started = time.monotonic()
        try:
            yield step
        except StepFailed as exc:
            step["verdict"], step["explanation"] = "fail", str(exc)
            raise
        except Exception as exc:
            logger.exception("Exchange run %s: step %r failed", self.run.pk, title)
            step["verdict"] = "fail"
            step["explanation"] = f"Unexpected error: {exc.__class__.__name__}: {exc}"
            raise StepFailed(step["explanation"]) from exc
        else:
            if step["verdict"] == "running":
                step["verdict"] = "ok" if all(c["ok"] for c in step["checks"]) else "warn"
        finally:
            step["elapsed_ms"] = round((time.monotonic() - started) * 1000)
            self.save()


def check(step, ok, text):
    """Record one verdict against the guide on a step."""
    step["checks"].append({"ok": bool(ok), "text": text})
    return ok


def _redact(headers):
    out = {}
    for name, value in headers.items():
        out[name] = "(redacted)" if name.lower() in ("authorization", "cookie", "set-cookie") else value
    return out


def _recorded_body(text):
    if text is None:
        return None
    return text if len(text) <= RECORDED_BODY_CHARS else text[:RECORDED_BODY_CHARS] + "\n… (truncated)"


# --- the connection ------------------------------------------------------------------------------


def _origin(url):
    parts = urlsplit(url)
    return (
        parts.scheme.lower(),
        (parts.hostname or "").lower(),
        parts.port or (443 if parts.scheme == "https" else 80),
    )


def trust_for(entry):
    """(cafile, cadata) to verify the old payer's TLS server certificate (§8 Trust)."""
    from sandbox.trust import authority as ca
    from sandbox.trust.directory import published_certificates
    from sandbox.trust.models import DirectoryEntry
    from sandbox.trust.tls_server import LISTENER_CA

    if entry.kind == DirectoryEntry.Kind.TENANT:
        # Every payer of this sandbox is served by the sandbox's own TLS listener.
        return str(Path(settings.TLS_DIR) / LISTENER_CA), None
    pems = [ca.to_pem(bytes(c.der)).decode() for c in published_certificates(entry)]
    pems += [ca.to_pem(bytes(a.certificate_der)).decode() for a in entry.authorities.all()]
    if not pems:
        raise StepFailed(f"The directory holds no certificate for {entry.name}, so its server cannot be verified.")
    return None, "\n".join(pems)


def client_credentials(tenant):
    """(certificate PEM, key PEM) of the payer's current client certificate."""
    from sandbox.trust import authority as ca
    from sandbox.trust import certificates
    from sandbox.trust.models import Certificate

    entry = certificates.tenant_entry(tenant)
    cert = (
        Certificate.objects.usable()
        .filter(entry=entry, purpose=Certificate.Purpose.CLIENT, not_after__gt=timezone.now())
        .exclude(key_encrypted=b"")
        .order_by("-created_at")
        .first()
    )
    if cert is None:
        raise StepFailed(
            f"{tenant.name} has no usable client certificate; issue one on its Certificates page and run again."
        )
    return ca.to_pem(bytes(cert.der)).decode(), ca.key_to_pem(ca.certificate_key(cert)).decode()


class Connection:
    """An httpx client pinned to the old payer's origin, presenting this payer's certificate."""

    def __init__(self, tenant, entry, recorder):
        self.entry, self.recorder = entry, recorder
        self.allowed = _origin(entry.endpoint_url)
        cafile, cadata = trust_for(entry)
        context = ssl.create_default_context(cafile=cafile, cadata=cadata)
        if cadata:
            # Pinned directory certificates may be leaves, not roots.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        cert_pem, key_pem = client_credentials(tenant)
        folder = Path(tempfile.mkdtemp(prefix="p2p-client-"))
        try:
            os.chmod(folder, 0o700)
            (folder / "cert.pem").write_text(cert_pem)
            (folder / "key.pem").write_text(key_pem)
            context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.client = httpx.Client(verify=context, timeout=TIMEOUT, follow_redirects=False)

    def close(self):
        self.client.close()

    def request(self, step, method, url, *, expect=(200,), headers=None, **kwargs):
        """One recorded HTTP exchange; returns (response, body text). Fails the step on errors."""
        if _origin(url) != self.allowed:
            raise StepFailed(
                f"Refused to call {url}: it is not on {self.entry.name}'s endpoint in the directory "
                f"({self.entry.endpoint_url}). Outbound calls go only to directory endpoints."
            )
        headers = {"Accept": "application/fhir+json", **(headers or {})}
        record = {"method": method, "url": url, "request_headers": _redact(headers)}
        if "json" in kwargs:
            record["request_body"] = _recorded_body(json.dumps(kwargs["json"], indent=1))
        elif "data" in kwargs:
            record["request_body"] = _recorded_body(urlencode(kwargs["data"]))
        step["exchanges"].append(record)
        started = time.monotonic()
        try:
            with self.client.stream(method, url, headers=headers, **kwargs) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise StepFailed(f"The response of {url} is larger than {MAX_RESPONSE_BYTES} bytes; stopped.")
                    chunks.append(chunk)
        except httpx.ConnectError as exc:
            record["error"] = str(exc)
            raise StepFailed(_connect_explanation(self.entry, url, exc)) from None
        except httpx.TimeoutException:
            record["error"] = "timeout"
            raise StepFailed(f"{url} did not answer within {TIMEOUT.read:.0f} seconds.") from None
        except httpx.HTTPError as exc:
            record["error"] = str(exc)
            raise StepFailed(f"The connection to {url} failed: {exc}.") from None
        finally:
            record["elapsed_ms"] = round((time.monotonic() - started) * 1000)
        text = b"".join(chunks).decode("utf-8", errors="replace")
        record["status"] = response.status_code
        record["response_headers"] = _redact(dict(response.headers))
        record["response_body"] = _recorded_body(text)
        record["ok"] = response.status_code in expect
        return response, text


def _connect_explanation(entry, url, exc):
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            f"The TLS server certificate of {url} could not be verified against the directory entry of "
            f"{entry.name}: {text}. The old payer must present the certificate the directory publishes."
        )
    if "alert" in text.lower() or "handshake" in text.lower():
        return (
            f"The TLS handshake with {url} failed ({text}). The old payer may not trust this payer's client "
            "certificate: check that this payer's directory entry is active and its certificate not revoked."
        )
    return f"Could not connect to {url}: {text}. Is the old payer's server running and reachable?"


def _json(step, text, what):
    try:
        return json.loads(text)
    except ValueError:
        raise StepFailed(f"The {what} is not JSON.") from None


def _outcome_text(body):
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(
            (i.get("details") or {}).get("text") or i.get("diagnostics") or i.get("code", "")
            for i in body.get("issue") or []
        )
    if isinstance(body, dict) and body.get("error"):
        return f"{body['error']}: {body.get('error_description', '')}"
    return ""


# --- the member-match request ----------------------------------------------------------------------


def _norm(text):
    return " ".join(str(text or "").casefold().split())


def prior_coverage(entry, coverages):
    """The member's earlier Coverage at the old payer of `entry` (by payor identifier or name)."""
    from sandbox.payer2payer.demo import prior_coverage_id

    wanted_ids = {v for v in (entry.npi, entry.naic, entry.tin) if v}
    for coverage in coverages:
        if entry.tenant_id and coverage.get("id") == prior_coverage_id(entry.tenant.slug):
            return coverage
    for coverage in coverages:
        for payor in coverage.get("payor") or []:
            identifier = (payor.get("identifier") or {}).get("value")
            if identifier in wanted_ids or (payor.get("display") and _norm(payor["display"]) == _norm(entry.name)):
                return coverage
    return None


def _current_coverage(coverages, prior):
    active = [c for c in coverages if c is not prior and c.get("status") == "active"]
    return active[0] if active else None


def build_request(tenant, own_entry, entry, patient, prior, current, policy="regular"):
    """An HRex member-match-in Parameters for the member (local references, MS-only CoverageToLink)."""
    name = (patient.get("name") or [{}])[0]
    member = {
        "resourceType": "Patient",
        "id": "1",
        "name": [{k: name[k] for k in ("family", "given") if k in name}],
        "birthDate": patient.get("birthDate"),
    }
    if patient.get("gender"):
        member["gender"] = patient["gender"]
    mb = [i for i in prior.get("identifier") or [] if i.get("value")]
    if mb:
        member["identifier"] = [
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]},
                **{k: mb[0][k] for k in ("system", "value") if k in mb[0]},
            }
        ]
    old_payor = {"display": entry.name}
    if entry.npi:
        old_payor["identifier"] = {"system": NPI_SYSTEM, "value": entry.npi}
    to_match = {"resourceType": "Coverage", "id": "9876B1", "status": prior.get("status", "active")}
    if mb:
        to_match["identifier"] = [{k: i[k] for k in ("system", "value") if k in i} for i in mb]
    if prior.get("subscriberId"):
        to_match["subscriberId"] = prior["subscriberId"]
    to_match.update(beneficiary={"reference": "Patient/1"}, payor=[old_payor])
    own_payor = {"display": tenant.name}
    if own_entry.npi:
        own_payor["identifier"] = {"system": NPI_SYSTEM, "value": own_entry.npi}
    parameters = [
        {"name": "MemberPatient", "resource": member},
        {"name": "CoverageToMatch", "resource": to_match},
    ]
    if current is not None:
        to_link = {"resourceType": "Coverage", "id": "AA87654", "status": current.get("status", "active")}
        if current.get("identifier"):
            to_link["identifier"] = [
                {k: i[k] for k in ("system", "value") if k in i} for i in current["identifier"] if i.get("value")
            ]
        if current.get("subscriberId"):
            to_link["subscriberId"] = current["subscriberId"]
        to_link.update(beneficiary={"reference": "Patient/1"}, payor=[own_payor])
        parameters.append({"name": "CoverageToLink", "resource": to_link})
    today = timezone.now().date()

    def actor(system, code, payor):
        return {"role": {"coding": [{"system": system, "code": code}]}, "reference": payor}

    consent = {
        "resourceType": "Consent",
        "id": "consent-1",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]}],
        "patient": {"reference": "Patient/1"},
        "performer": [{"reference": "Patient/1"}],
        "sourceReference": {"reference": f"DocumentReference/consent-{tenant.slug}"},
        "policy": [{"uri": POLICY_BASE + policy}],
        "provision": {
            "type": "permit",
            "period": {
                "start": (today - timedelta(days=1)).isoformat(),
                "end": (today + timedelta(days=365)).isoformat(),
            },
            "actor": [
                actor("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "performer", old_payor),
                actor("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP", own_payor),
            ],
            "action": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "disclose"}]}
            ],
        },
    }
    parameters.append({"name": "Consent", "resource": consent})
    return {"resourceType": "Parameters", "parameter": parameters}


# --- storing what arrived --------------------------------------------------------------------------


def local_id(prefix, fhir_id):
    candidate = f"{prefix}-{fhir_id}"
    if len(candidate) <= 64:
        return candidate
    return f"{prefix}-{hashlib.sha256(fhir_id.encode()).hexdigest()[:24]}"


def id_prefix(entry):
    return "p2p-" + "".join(ch for ch in entry.slug if ch.isalnum() or ch == "-")[:20].strip("-")


_RELATIVE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def _rewrite(value, mapping, base):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                relative = _relative(item, base)
                if relative in mapping:
                    out[key] = mapping[relative]
                elif _RELATIVE.match(relative):
                    # Not brought over: point at the old payer's copy, never at a local namesake.
                    out[key] = f"{base}/{relative}"
                else:
                    out[key] = item
            else:
                out[key] = _rewrite(item, mapping, base)
        return out
    if isinstance(value, list):
        return [_rewrite(item, mapping, base) for item in value]
    return value


def _comparable(resource):
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return {**{k: v for k, v in resource.items() if k not in ("meta", "id")}, "meta": meta}


def rehome(resources, old_patient_id, local_patient_id, prefix, base):
    """The received resources under local ids with references rewritten (the old Patient is ours)."""
    mapping = {f"Patient/{old_patient_id}": f"Patient/{local_patient_id}"}
    for resource in resources:
        if resource["resourceType"] != "Patient":
            key = f"{resource['resourceType']}/{resource['id']}"
            mapping[key] = f"{resource['resourceType']}/{local_id(prefix, resource['id'])}"
    out = []
    for resource in resources:
        if resource["resourceType"] in NOT_STORED:
            continue
        copy = _rewrite({k: v for k, v in resource.items() if k != "id"}, mapping, base)
        meta = {k: v for k, v in (copy.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
        meta["source"] = f"{base}/{resource['resourceType']}/{resource['id']}"
        copy["meta"] = meta
        copy["id"] = local_id(prefix, resource["id"])
        out.append(copy)
    return out


def store_resources(tenant, resources):
    """Create or update each resource unless it is unchanged; returns (stored, unchanged, rejected)."""
    stored, unchanged, rejected = [], 0, []
    for start in range(0, len(resources), STORE_CHUNK):
        with tenant_scope(tenant):
            for resource in resources[start : start + STORE_CHUNK]:
                resource_type, fhir_id = resource["resourceType"], resource["id"]
                try:
                    current = store.read(resource_type, fhir_id).as_dict()
                except NotFound:
                    current = None
                except FhirError:
                    current = None
                if current is not None and _comparable(current) == _comparable(resource):
                    unchanged += 1
                    stored.append(f"{resource_type}/{fhir_id}")
                    continue
                try:
                    store.update(resource_type, fhir_id, resource)
                except FhirError as exc:
                    rejected.append(f"{resource_type}/{fhir_id}: {exc}")
                    continue
                stored.append(f"{resource_type}/{fhir_id}")
    return stored, unchanged, rejected


def transmitter_provenance(entry, prefix, local_patient_id, targets, received_at):
    """PDex Provenance with the old payer as transmitter of everything this run stored (§5)."""
    who = {"display": entry.name}
    if entry.npi:
        who["identifier"] = {"system": NPI_SYSTEM, "value": entry.npi}
    return {
        "resourceType": "Provenance",
        "id": local_id(prefix, f"transmitter-{local_patient_id}"),
        "meta": {"profile": [PDEX + "pdex-provenance"]},
        "target": [{"reference": t} for t in sorted(targets)] + [{"reference": f"Patient/{local_patient_id}"}],
        "recorded": received_at,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type",
                            "code": "transmitter",
                        }
                    ]
                },
                "who": who,
            }
        ],
        "entity": [
            {
                "extension": [
                    {
                        "url": PDEX + "ProvenanceSourceFrom",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/ProvenancePayerDataSource",
                                    "code": "hl7fhirr4",
                                }
                            ]
                        },
                    }
                ],
                "role": "source",
                "what": {"display": f"Member history from {entry.name} ({entry.endpoint_url})"},
            }
        ],
    }


# --- the run ---------------------------------------------------------------------------------------


def start_run(tenant, entry, patient_id, user=None, enqueue=True):
    """Create a queued ExchangeRun and send it to a worker after commit; returns the run."""
    from sandbox.payer2payer.tasks import run_exchange_task

    with tenant_scope(tenant):
        run = ExchangeRun.objects.create(
            target=entry, target_name=entry.name if entry else "", patient_id=patient_id, created_by=user
        )
        if enqueue:
            run_exchange_task.delay_on_commit(tenant.pk, run.pk)
    return run


def run_exchange(tenant, run_id):
    """
    Run one exchange (claimed with a conditional update, so a duplicate delivery does nothing);
    returns the ExchangeRun as finished.
    """
    with tenant_scope(tenant):
        claimed = ExchangeRun.objects.filter(pk=run_id, status=ExchangeRun.Status.QUEUED).update(
            status=ExchangeRun.Status.RUNNING, started_at=timezone.now()
        )
        run = ExchangeRun.objects.get(pk=run_id)
    if not claimed:
        logger.info("Exchange run %s: nothing updated; another worker took it or it has finished.", run_id)
        return run
    recorder = Recorder(tenant, run)
    try:
        summary, stored, unchanged = _steps(tenant, run, recorder)
    except StepFailed as exc:
        recorder.save(status=ExchangeRun.Status.FAILED, summary=str(exc)[:500], finished_at=timezone.now())
    else:
        recorder.save(
            status=ExchangeRun.Status.SUCCEEDED,
            summary=summary[:500],
            stored=stored,
            unchanged=unchanged,
            finished_at=timezone.now(),
        )
    with tenant_scope(tenant):
        return ExchangeRun.objects.get(pk=run_id)


def _steps(tenant, run, recorder):
    from sandbox.trust import certificates

    with recorder.step("Find the old payer in the directory") as step:
        entry = run.target
        if entry is None:
            raise StepFailed("The directory entry of the old payer no longer exists.")
        if not entry.is_active:
            raise StepFailed(f"{entry.name} is switched off in the directory; nothing may be sent to it.")
        if entry.tenant_id == tenant.pk:
            raise StepFailed("A payer cannot exchange with itself: pick another directory entry.")
        if not entry.endpoint_url.startswith("https://"):
            raise StepFailed(f"{entry.name}'s directory endpoint ({entry.endpoint_url or 'none'}) is not https.")
        own_entry = certificates.tenant_entry(tenant)
        check(step, True, f"{entry.name}: endpoint {entry.endpoint_url} ({entry.get_kind_display()})")
        base = entry.endpoint_url.rstrip("/")

    with recorder.step("Prepare the member-match request") as step:
        with tenant_scope(tenant):
            try:
                patient = store.read("Patient", run.patient_id).as_dict()
            except FhirError:
                raise StepFailed(f"There is no Patient/{run.patient_id} at {tenant.name}.") from None
            coverages = [
                json.loads(r.content)
                for r in Resource.objects.filter(
                    Q(patient_id=run.patient_id), resource_type="Coverage", deleted=False
                ).order_by("pk")
            ]
        prior = prior_coverage(entry, coverages)
        if prior is None:
            raise StepFailed(
                f"Patient/{run.patient_id} has no earlier Coverage at {entry.name}. $member-match needs the member id "
                f"the old payer issued: add a Coverage for this member whose payor names {entry.name}"
                + (f" (NPI {entry.npi})" if entry.npi else "")
                + " and carries that member id."
            )
        parameters = build_request(tenant, own_entry, entry, patient, prior, _current_coverage(coverages, prior))
        check(step, True, f"CoverageToMatch from Coverage/{prior['id']}")

    connection = None
    try:
        with recorder.step("Open mutual TLS and discover the endpoints") as step:
            connection = Connection(tenant, entry, recorder)
            response, text = connection.request(step, "GET", f"{base}/.well-known/smart-configuration")
            if response.status_code != 200:
                raise StepFailed(
                    f"{base}/.well-known/smart-configuration answered {response.status_code}; a PDex server "
                    "advertises its token and registration endpoints there."
                )
            config = _json(step, text, "SMART configuration")
            aliases = config.get("mtls_endpoint_aliases") or {}
            token_url = aliases.get("token_endpoint") or config.get("token_endpoint")
            register_url = aliases.get("registration_endpoint") or config.get("registration_endpoint")
            response, text = connection.request(step, "GET", f"{base}/metadata")
            capability = _json(step, text, "CapabilityStatement") if response.status_code == 200 else {}
            operations = _operations(capability)
            check(step, ("Patient", "member-match") in operations, "CapabilityStatement declares Patient/$member-match")
            bulk = ("Group", "bulk-member-match") in operations and ("Group", "davinci-data-export") in operations
            check(
                step,
                True,
                "bulk member match and $davinci-data-export declared (PDex 2.1+): the data comes by bulk export"
                if bulk
                else "no bulk member match declared: the data comes by $everything (PDex 2.0)",
            )
            check(step, token_url, "token_endpoint advertised")
            check(step, register_url, "registration_endpoint advertised (DCR over mutual TLS, PDex §2)")
            if not token_url or not register_url:
                raise StepFailed("The SMART configuration lacks the token or registration endpoint.")

        with recorder.step("Register by Dynamic Client Registration (RFC 7591)") as step:
            metadata = {
                "client_name": f"{tenant.name} (payer-to-payer)",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": REQUEST_SCOPE,
            }
            response, text = connection.request(step, "POST", register_url, expect=(201, 200), json=metadata)
            body = _json(step, text, "registration response")
            if response.status_code not in (200, 201):
                raise StepFailed(
                    f"Registration was refused ({response.status_code}: {_outcome_text(body) or text[:200]})."
                )
            check(step, response.status_code == 201, "201 Created (RFC 7591 §3.2.1)")
            client_id, secret = body.get("client_id"), body.get("client_secret")
            if not client_id or not secret:
                raise StepFailed("The registration response has no client_id or client_secret.")

        with recorder.step("Get an access token (client credentials)") as step:
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            response, text = connection.request(
                step,
                "POST",
                token_url,
                data={"grant_type": "client_credentials", "scope": REQUEST_SCOPE},
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
            body = _json(step, text, "token response")
            if response.status_code != 200 or not body.get("access_token"):
                raise StepFailed(f"No token ({response.status_code}: {_outcome_text(body) or text[:200]}).")
            granted = body.get("scope", "")
            check(step, MEMBER_MATCH_SCOPE in granted.split(), f"granted scope: {granted}")
            bearer = {"Authorization": f"Bearer {body['access_token']}"}

        if bulk:
            old_patient_id, resources = _bulk_flow(connection, recorder, base, bearer, parameters, entry)
        else:
            old_patient_id, resources = _single_flow(connection, recorder, base, bearer, parameters, entry)
    finally:
        if connection is not None:
            connection.close()

    with recorder.step("Store the data with Provenance") as step:
        prefix = id_prefix(entry)
        local = rehome(resources, old_patient_id, run.patient_id, prefix, base)
        stored, unchanged, rejected = store_resources(tenant, local)
        provenance_id = local_id(prefix, f"transmitter-{run.patient_id}")
        with tenant_scope(tenant):
            try:
                existing = store.read("Provenance", provenance_id).as_dict()
            except FhirError:
                existing = None
        received_at = existing["recorded"] if existing else store.instant(timezone.now())
        ours = transmitter_provenance(entry, prefix, run.patient_id, stored, received_at)
        prov_stored, prov_unchanged, prov_rejected = store_resources(tenant, [ours])
        rejected += prov_rejected
        for problem in rejected[:10]:
            check(step, False, f"not stored: {problem}")
        check(step, True, f"{len(stored) - unchanged} stored or updated, {unchanged} unchanged")
        if local and not stored:
            raise StepFailed("Nothing that arrived could be stored (every resource was invalid).")
    new = len(stored) - unchanged + (len(prov_stored) - prov_unchanged)
    summary = (
        f"Matched Patient/{old_patient_id} at {entry.name}; {len(resources)} resources received, "
        f"{new} stored or updated, {unchanged + prov_unchanged} unchanged"
        + (f", {len(rejected)} rejected" if rejected else "")
        + "."
    )
    return summary, new, unchanged + prov_unchanged


def _single_flow(connection, recorder, base, bearer, parameters, entry):
    """PDex 2.0: $member-match, then Patient/$everything and the Provenance about the data."""
    with recorder.step("Match the member ($member-match)") as step:
        response, text = connection.request(
            step,
            "POST",
            f"{base}/Patient/$member-match",
            json=parameters,
            headers={**bearer, "Content-Type": "application/fhir+json"},
        )
        body = _json(step, text, "$member-match response")
        if response.status_code == 422:
            raise StepFailed(
                f"{entry.name} did not match the member (422): {_outcome_text(body)}. Check the member's "
                "demographics and the member id on the earlier Coverage."
            )
        if response.status_code != 200 or body.get("resourceType") != "Parameters":
            raise StepFailed(f"$member-match answered {response.status_code}: {_outcome_text(body) or text[:200]}")
        outputs = {p.get("name"): p for p in body.get("parameter") or []}
        identifier = (outputs.get("MemberIdentifier") or {}).get("valueIdentifier") or {}
        codes = {c.get("code") for c in (identifier.get("type") or {}).get("coding") or []}
        check(step, identifier.get("value"), "MemberIdentifier returned (HRex member-match-out)")
        check(step, codes & {"MB", "UMB"}, "MemberIdentifier typed MB (HRex 1.0) or UMB (HRex 1.1)")
        if not identifier.get("value"):
            raise StepFailed("The $member-match response has no MemberIdentifier value.")
        member_ref = ((outputs.get("MemberId") or {}).get("valueReference") or {}).get("reference", "")

    with recorder.step("Find the member's Patient") as step:
        if member_ref.startswith("Patient/"):
            old_patient_id = member_ref.split("/", 1)[1]
            check(step, True, f"MemberId {member_ref} (HRex 1.1 / PDex 2.2)")
        else:
            query = urlencode({"identifier": identifier["value"]})
            response, text = connection.request(step, "GET", f"{base}/Patient?{query}", headers=bearer)
            bundle = _json(step, text, "Patient search")
            patients = [e["resource"] for e in bundle.get("entry") or [] if "resource" in e]
            if response.status_code != 200 or not patients:
                raise StepFailed(f"Patient?identifier={identifier['value']} found no Patient.")
            old_patient_id = patients[-1]["id"]
            check(step, len(patients) == 1, f"Patient/{old_patient_id} by MemberIdentifier")

    with recorder.step("Pull the member's data (Patient/$everything)") as step:
        resources = _pull(connection, step, f"{base}/Patient/{old_patient_id}/$everything?_count={PAGE_SIZE}", bearer)
        received = {f"{r['resourceType']}/{r['id']}" for r in resources}
        provenance = _pull(connection, step, f"{base}/Provenance?_count={PAGE_SIZE}", bearer)
        for item in provenance:
            targets = {_relative(t.get("reference", ""), base) for t in item.get("target") or []}
            if targets & received and f"Provenance/{item['id']}" not in received:
                resources.append(item)
        types = sorted({r["resourceType"] for r in resources})
        check(step, any(r["resourceType"] == "Patient" for r in resources), "the Patient is in $everything")
        check(step, True, f"{len(resources)} resources: {', '.join(types)}")
    return old_patient_id, resources


def _operations(capability):
    """{(resource type or None, operation name)} a CapabilityStatement declares."""
    out = set()
    for rest in capability.get("rest") or []:
        for operation in rest.get("operation") or []:
            out.add((None, operation.get("name")))
        for resource in rest.get("resource") or []:
            for operation in resource.get("operation") or []:
                out.add((resource.get("type"), operation.get("name")))
    return out


def _wait(connection, step, url, headers, what):
    """Poll an async status URL (FHIR async pattern) until 200; returns the JSON body."""
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        response, text = connection.request(step, "GET", url, headers=headers, expect=(200, 202))
        if response.status_code == 200:
            return _json(step, text, f"{what} manifest")
        if response.status_code != 202:
            body = json.loads(text) if text.startswith("{") else {}
            raise StepFailed(f"The {what} failed ({response.status_code}): {_outcome_text(body) or text[:200]}")
        if time.monotonic() > deadline:
            raise StepFailed(f"The {what} did not finish within {POLL_SECONDS} seconds.")
        try:
            delay = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            delay = 1.0
        time.sleep(min(max(delay, 0.2), 5.0))


def _ndjson(connection, step, url, headers):
    response, text = connection.request(step, "GET", url, headers={**headers, "Accept": "application/fhir+ndjson"})
    if response.status_code != 200:
        raise StepFailed(f"GET {url} answered {response.status_code}.")
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        raise StepFailed(f"{url} is not NDJSON.") from None


def _kickoff(connection, step, url, headers, what, **kwargs):
    response, text = connection.request(
        step, kwargs.pop("method", "POST"), url, expect=(202,), headers={**headers, "Prefer": "respond-async"}, **kwargs
    )
    if response.status_code != 202 or not response.headers.get("Content-Location"):
        body = json.loads(text) if text.startswith("{") else {}
        raise StepFailed(f"The {what} was not accepted ({response.status_code}): {_outcome_text(body) or text[:200]}")
    return response.headers["Content-Location"]


def _bulk_flow(connection, recorder, base, bearer, parameters, entry):
    """PDex 2.1+: $bulk-member-match for the member, then $davinci-data-export of the matched Group."""
    with recorder.step("Match the member in bulk ($bulk-member-match)") as step:
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "MemberBundle", "part": parameters["parameter"]}],
        }
        status_url = _kickoff(
            connection,
            step,
            f"{base}/Group/$bulk-member-match",
            {**bearer, "Content-Type": "application/fhir+json"},
            "bulk member match",
            json=body,
        )
        manifest = _wait(connection, step, status_url, bearer, "bulk member match")
        groups = []
        for output in manifest.get("output") or []:
            if output.get("type") == "Group":
                groups += _ndjson(connection, step, output["url"], bearer)
        check(step, groups, "the manifest lists the result Groups (PDex 2.2 Group ndjson)")
        by_code = {}
        for group in groups:
            codes = {c.get("code") for c in (group.get("code") or {}).get("coding") or []}
            for code in codes:
                by_code[code] = group
        matched = by_code.get("match") or {}
        members = [
            m["entity"]["reference"] for m in matched.get("member") or [] if m.get("entity", {}).get("reference")
        ]
        if not members:
            reason = (
                "the consent could not be complied with (ConsentConstrainedMembers)"
                if (by_code.get("consentconstraint") or {}).get("member")
                else "no match (NonMatchedMembers)"
            )
            raise StepFailed(f"{entry.name} did not match the member: {reason}.")
        old_patient_id = members[0].split("/")[-1]
        check(step, True, f"matched Patient/{old_patient_id} in Group/{matched.get('id')}")
    with recorder.step("Export the member's data ($davinci-data-export, payertopayer)") as step:
        query = urlencode({"exportType": "hl7.fhir.us.davinci-pdex#payertopayer"})
        status_url = _kickoff(
            connection,
            step,
            f"{base}/Group/{matched['id']}/$davinci-data-export?{query}",
            bearer,
            "data export",
            method="GET",
        )
        manifest = _wait(connection, step, status_url, bearer, "data export")
        resources = []
        for output in manifest.get("output") or []:
            resources += _ndjson(connection, step, output["url"], bearer)
        types = sorted({r.get("resourceType", "?") for r in resources})
        check(step, any(r.get("resourceType") == "Patient" for r in resources), "the Patient is in the export")
        check(step, True, f"{len(resources)} resources: {', '.join(types)}")
    return old_patient_id, resources


def _relative(reference, base):
    return reference[len(base) + 1 :] if reference.startswith(base + "/") else reference


def _pull(connection, step, url, headers):
    """Every resource of a searchset, following `next` links (same origin, at most MAX_PAGES)."""
    resources, pages = [], 0
    while url:
        pages += 1
        if pages > MAX_PAGES:
            raise StepFailed(f"More than {MAX_PAGES} pages; stopped.")
        response, text = connection.request(step, "GET", url, headers=headers)
        if response.status_code != 200:
            body = json.loads(text) if text.startswith("{") else {}
            raise StepFailed(f"GET {url} answered {response.status_code}: {_outcome_text(body) or text[:200]}")
        bundle = _json(step, text, "search result")
        resources.extend(e["resource"] for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict))
        url = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
    # Only the exchange and the first page bodies are worth keeping in the report.
    for record in step["exchanges"][3:]:
        record["response_body"] = "(page body not kept)"
    return resources
