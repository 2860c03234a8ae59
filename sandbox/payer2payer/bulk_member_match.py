"""
Group/$bulk-member-match, also answered as $multi-member-match (PDex 2.1 "Payer-to-payer bulk
exchange", OperationDefinition BulkMemberMatch in 2.2; spec/payer-to-payer.md §4.1).

`parse_request` checks every MemberBundle synchronously (422 naming the part); `start_job`
records a BulkMatchJob and queues `run_job` on a worker. The job matches each member on its
own (a member's failure never fails the job) into exactly one of three Groups: MatchedMembers
(`match`, persisted in the payer's store so the client can read it and export from it),
NonMatchedMembers (`nomatch`) and ConsentConstrainedMembers (`consentconstraint`). The status
manifest lists a `Group` ndjson (one Group per line, the 2.2 shape) and a `Parameters` ndjson
holding the 2.1 envelope; a 2.1 payer lists the envelope first.
"""

import copy
import json
import logging

from django.utils import timezone

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import FhirError
from sandbox.payer2payer import member_match
from sandbox.payer2payer.models import BulkMatchJob, ExchangeSettings
from sandbox.seeding.identifiers import NPI_SYSTEM
from tenants.context import tenant_scope

logger = logging.getLogger(__name__)

PDEX = "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/"
RESULT_CS = "http://hl7.org/fhir/us/davinci-pdex/CodeSystem/PdexMultiMemberMatchResultCS"
BUCKETS = {
    "MatchedMembers": ("match", "Matched", "pdex-member-match-group", "Matched Members"),
    "NonMatchedMembers": ("nomatch", "Not Matched", "pdex-member-no-match-group", "Non-Matched Members"),
    "ConsentConstrainedMembers": (
        "consentconstraint",
        "Consent Constraint",
        "pdex-member-no-match-group",
        "Consent Constrained Members",
    ),
}
MAX_MEMBERS = 10_000


def parse_request(parameters):
    """
    The MemberBundles of a multi-member-match-in Parameters as part lists; raises MatchError
    (422 "Bad bundle format", with the part in `expression`) for any malformed member.
    """
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise member_match.bad_format(
            "The body must be a Parameters resource (PDex multi-member-match-in).", "Parameters"
        )
    bundles = []
    for index, parameter in enumerate(parameters.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, dict) or parameter.get("name") != "MemberBundle":
            raise member_match.bad_format("Every parameter must be a MemberBundle (PDex multi-member-match-in).", where)
        parts = parameter.get("part")
        if not isinstance(parts, list) or not parts:
            raise member_match.bad_format("MemberBundle needs parts: MemberPatient, CoverageToMatch, Consent.", where)
        try:
            request = member_match.parse_parts(parts, where=f"{where}.part")
        except member_match.MatchError as exc:
            exc.status = 422
            raise
        if request.consent is None:
            raise member_match.bad_format(
                "Consent is required in every MemberBundle (PDex bulk member match: Consent 1..1).",
                f"{where}.part.where(name='Consent')",
            )
        bundles.append(parts)
    if not bundles:
        raise member_match.bad_format("At least one MemberBundle is required.", "Parameters.parameter")
    if len(bundles) > MAX_MEMBERS:
        raise member_match.bad_format(f"At most {MAX_MEMBERS} members per request.", "Parameters.parameter")
    return bundles


def start_job(tenant, application, parameters, request_url):
    """Record a bulk match job (active tenant scope) and queue it after commit; returns the job."""
    from sandbox.payer2payer.tasks import run_bulk_match_task

    bundles = parse_request(parameters)
    job = BulkMatchJob.objects.create(
        application=application,
        pdex_version=tenant.pdex_version,
        request=parameters,
        request_url=request_url,
        members_total=len(bundles),
    )
    run_bulk_match_task.delay_on_commit(tenant.pk, job.pk)
    return job


def _contained(resource, used_ids):
    out = {k: v for k, v in copy.deepcopy(resource).items() if k != "contained"}
    meta = {k: v for k, v in (out.get("meta") or {}).items() if k not in ("versionId", "lastUpdated", "security")}
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    base = str(out.get("id") or "member")
    candidate, n = base, 1
    while candidate in used_ids:
        n += 1
        candidate = f"{base}-{n}"
    used_ids.add(candidate)
    out["id"] = candidate
    return out


def _group(bucket, tenant, own_entry, requester):
    code, display, profile, name = BUCKETS[bucket]
    coding = {"system": RESULT_CS, "code": code, "display": display}
    managing = {"display": tenant.name}
    if own_entry is not None and own_entry.npi:
        managing["identifier"] = {"system": NPI_SYSTEM, "value": own_entry.npi}
    group = {
        "resourceType": "Group",
        "meta": {"profile": [PDEX + profile]},
        "contained": [],
        "type": "person",
        "actual": True,
        "code": {"coding": [coding]},
        "name": name,
        "managingEntity": managing,
        "member": [],
    }
    if requester:
        group["identifier"] = [requester]
        if code == "match":
            group["characteristic"] = [
                {
                    "code": {"coding": [coding]},
                    "valueReference": {"identifier": requester},
                    "exclude": False,
                    "period": {"start": timezone.now().date().isoformat()},
                }
            ]
    return group


def _requester(application, first_consent):
    """The requesting payer's identifier: its directory NPI, else the consent's IRCP actor."""
    entry = getattr(application, "directory_entry", None) if application is not None else None
    if entry is not None and entry.npi:
        return {"system": NPI_SYSTEM, "value": entry.npi}
    for actor in ((first_consent or {}).get("provision") or {}).get("actor") or []:
        codes = {c.get("code") for c in ((actor.get("role") or {}).get("coding") or [])}
        identifier = (actor.get("reference") or {}).get("identifier")
        if "IRCP" in codes and identifier:
            return identifier
    return None


def match_members(tenant, application, bundles, progress=None):
    """Match each MemberBundle into one of the three Groups; returns {bucket: Group dict}."""
    from sandbox.trust.models import DirectoryEntry

    with tenant_scope(tenant):
        config = ExchangeSettings.for_tenant(tenant)
    own_entry = DirectoryEntry.objects.filter(tenant=tenant).first()
    requests = [
        member_match.parse_parts(parts, where=f"Parameters.parameter[{i}].part") for i, parts in enumerate(bundles)
    ]
    requester = _requester(application, requests[0].consent if requests else None)
    groups = {bucket: _group(bucket, tenant, own_entry, requester) for bucket in BUCKETS}
    used = {bucket: set() for bucket in BUCKETS}
    for index, request in enumerate(requests):
        try:
            # One short transaction per member, so progress shows and one failure stays its own.
            with tenant_scope(tenant):
                result = member_match.match_one(config, request, application)
                member_match.record_match(request, result, application)
            bucket = "MatchedMembers"
        except member_match.MatchError as exc:
            bucket = "ConsentConstrainedMembers" if exc.reason == "consent-constraint" else "NonMatchedMembers"
            result = None
        group = groups[bucket]
        patient = _contained(request.patient, used[bucket])
        group["contained"].append(patient)
        extensions = [{"url": PDEX + "base-ext-match-parameters", "valueReference": {"reference": f"#{patient['id']}"}}]
        coverage = _contained(request.coverage_to_match, used[bucket])
        group["contained"].append(coverage)
        extensions.append(
            {"url": PDEX + "base-ext-match-coverage", "valueReference": {"reference": f"#{coverage['id']}"}}
        )
        reference = f"Patient/{result.patient_id}" if result else f"#{patient['id']}"
        group["member"].append({"entity": {"extension": extensions, "reference": reference}})
        if progress is not None:
            progress(index + 1)
    out = {"MatchedMembers": groups["MatchedMembers"]}
    for bucket in ("NonMatchedMembers", "ConsentConstrainedMembers"):
        if groups[bucket]["member"]:
            out[bucket] = groups[bucket]
    for group in out.values():
        if not group["contained"]:
            del group["contained"]
    return out


def run_job(tenant, job_id):
    """Run a queued bulk match job (claimed with a conditional update)."""
    with tenant_scope(tenant):
        claimed = BulkMatchJob.objects.filter(pk=job_id, status=BulkMatchJob.Status.QUEUED).update(
            status=BulkMatchJob.Status.RUNNING
        )
        job = BulkMatchJob.objects.select_related("application", "application__directory_entry").get(pk=job_id)
    if not claimed:
        logger.info("Bulk match job %s: nothing updated; another worker took it or it was cancelled.", job_id)
        return

    def progress(done):
        with tenant_scope(tenant):
            BulkMatchJob.objects.filter(pk=job_id).update(members_done=done)

    try:
        bundles = parse_request(job.request)
        groups = match_members(tenant, job.application, bundles, progress)
        with tenant_scope(tenant):
            matched = dict(groups["MatchedMembers"], id=str(job.uuid))
            # The matched Group is kept: the client reads it and exports from it ($davinci-data-export).
            stored, _ = store.update("Group", matched["id"], matched)
            groups["MatchedMembers"] = stored.as_dict()
    except (FhirError, member_match.MatchError) as exc:
        with tenant_scope(tenant):
            BulkMatchJob.objects.filter(pk=job_id).update(
                status=BulkMatchJob.Status.FAILED, error=str(exc), finished_at=timezone.now()
            )
        return
    with tenant_scope(tenant):
        # A job cancelled while it ran stays cancelled.
        BulkMatchJob.objects.filter(pk=job_id, status=BulkMatchJob.Status.RUNNING).update(
            status=BulkMatchJob.Status.SUCCEEDED, result=groups, finished_at=timezone.now()
        )


def envelope(groups):
    """The PDex 2.1 multi-member-match-out Parameters around the Groups."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name, "resource": groups[name]} for name in BUCKETS if name in groups],
    }


def manifest(job, status_url):
    """The Bulk Data style manifest of a finished job (PDex 2.2: Group ndjson; 2.1: the envelope)."""
    outputs = [
        {"type": "Group", "url": f"{status_url}/Group.ndjson", "count": len(job.result)},
        {"type": "Parameters", "url": f"{status_url}/Parameters.ndjson", "count": 1},
    ]
    if job.pdex_version == "2.1":
        outputs.reverse()
    return {
        "transactionTime": store.instant(job.finished_at or job.created_at),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": outputs,
        "error": [],
    }


def ndjson(job, kind):
    if kind == "Group":
        return "".join(json.dumps(job.result[name]) + "\n" for name in BUCKETS if name in job.result)
    return json.dumps(envelope(job.result)) + "\n"
