"""
The rows a bulk load writes, made from resource dicts: the stored JSON text and the search-index
rows. Pure Python without Django, so that a seeding worker process can prepare the next chunk
while the main process writes the previous one (sandbox/seeding/chunks.py).
"""

import json
import uuid
from datetime import UTC, datetime

from sandbox.fhirstore import indexing


def instant(when):
    """A FHIR instant with millisecond precision, in UTC."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def now():
    """The current time with millisecond precision, so that meta.lastUpdated and its column agree exactly."""
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond - current.microsecond % 1000)


def render_document(resource, fhir_id, version_id, when):
    """(document, text): the resource as stored and served, with id and meta set, and its JSON text."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(when)
    out = {"resourceType": resource["resourceType"], "id": fhir_id, "meta": meta}
    out.update((k, v) for k, v in resource.items() if k not in out)
    return out, json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def render(resource, fhir_id, version_id, when):
    """The JSON text stored and served: id and meta set, other elements as the client sent them."""
    return render_document(resource, fhir_id, version_id, when)[1]


def prepare(resource, when, local_bases):
    """
    (resource_type, fhir_id, content, patient_id, index rows) for the first version of a new
    resource; missing ids are assigned. The index rows come from the rendered document itself:
    reading its JSON text back would give the same values at a third of the cost of preparing.
    """
    fhir_id = resource.get("id") or str(uuid.uuid4())
    document, content = render_document(resource, fhir_id, 1, when)
    rows, patient_id = indexing.extract(document, local_bases)
    return resource["resourceType"], fhir_id, content, patient_id, rows
