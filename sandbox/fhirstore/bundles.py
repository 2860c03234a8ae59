"""
Bundles: building searchset and history bundles, and processing batch and transaction
bundles (FHIR R4 http.html#transaction).

Searchset and history bundles are assembled as text around the stored JSON, so resources
leave exactly as stored and are never parsed on the way out (unless _elements or _summary
asks for a subset).
"""

import json
import re
import uuid
from urllib.parse import urlencode

from django.db import transaction

from sandbox.fhirstore import search, store
from sandbox.fhirstore.errors import FhirError, InvalidResource
from sandbox.fhirstore.outcome import operation_outcome
from sandbox.fhirstore.resources import summary_elements

_ALWAYS_KEPT = ("resourceType", "id", "meta")
_SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def subset(content, resource_type, summary, elements):
    """The stored JSON cut down for _summary / _elements, tagged SUBSETTED (unchanged when neither)."""
    if not elements and summary in ("", "false"):
        return content
    resource = json.loads(content)
    if elements:
        keep = set(_ALWAYS_KEPT) | set(elements)
    elif summary == "true":
        keep = set(_ALWAYS_KEPT) | summary_elements(resource_type)
    elif summary == "text":
        keep = {*_ALWAYS_KEPT, "text"}
    else:  # data
        keep = set(resource) - {"text"}
    out = {k: v for k, v in resource.items() if k in keep}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), _SUBSETTED]
    out["meta"] = meta
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _entry(base, row, mode, summary="", elements=()):
    content = subset(row.content, row.resource_type, summary, elements)
    full_url = json.dumps(f"{base}/{row.resource_type}/{row.fhir_id}")
    return f'{{"fullUrl":{full_url},"resource":{content},"search":{{"mode":"{mode}"}}}}'


def _link(relation, url):
    return {"relation": relation, "url": url}


def searchset(result, base, self_path, *, warnings=()):
    """A searchset Bundle (JSON text) for one page of a SearchResult."""

    def url(params):
        return f"{base}/{self_path}" + (f"?{urlencode(params)}" if params else "")

    links = [_link("self", url(result.query))]
    if result.next_params is not None:
        links.append(_link("next", url(result.next_params)))
    if result.previous_params is not None:
        links.append(_link("previous", url(result.previous_params)))
    head = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset"}
    if result.total is not None:
        head["total"] = result.total
    head["link"] = links
    entries = [_entry(base, r, "match", result.summary, result.elements) for r in result.matches]
    entries += [_entry(base, r, "include", result.summary, result.elements) for r in result.includes]
    issues = [
        ("warning", "not-supported", f"Unknown search parameter '{name}' was ignored.", name) for name in result.unknown
    ] + list(warnings)
    if issues:
        outcome = json.dumps(operation_outcome(issues))
        entries.append(f'{{"resource":{outcome},"search":{{"mode":"outcome"}}}}')
    text = json.dumps(head, separators=(",", ":"))
    if not entries:
        return text
    return text[:-1] + ',"entry":[' + ",".join(entries) + "]}"


def history_bundle(rows, base, self_url, next_url=None):
    """A history Bundle (JSON text) for ResourceVersion rows, newest first."""
    links = [_link("self", self_url)]
    if next_url:
        links.append(_link("next", next_url))
    head = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "history", "link": links}
    entries = []
    for row in rows:
        full_url = json.dumps(f"{base}/{row.resource_type}/{row.fhir_id}")
        request = json.dumps(
            {
                "method": row.method,
                "url": f"{row.resource_type}/{row.fhir_id}" if row.method != "POST" else row.resource_type,
            }
        )
        response = json.dumps(
            {
                "status": {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[row.method],
                "etag": f'W/"{row.version_id}"',
                "lastModified": store.instant(row.last_updated),
            }
        )
        resource = "" if row.deleted else f',"resource":{row.content}'
        entries.append(f'{{"fullUrl":{full_url}{resource},"request":{request},"response":{response}}}')
    text = json.dumps(head, separators=(",", ":"))
    if not entries:
        return text
    return text[:-1] + ',"entry":[' + ",".join(entries) + "]}"


# --- batch and transaction ---------------------------------------------------------------

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_URL_RE = re.compile(
    r"^(?P<type>[A-Z][A-Za-z]+)(?:/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<vid>[^/?]+))?)?(?:\?(?P<query>.*))?$"
)


def _rewrite(value, mapping):
    if isinstance(value, dict):
        return {
            k: (mapping.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, mapping))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def _relative_url(url, bases):
    for b in bases:
        if url.startswith(b + "/"):
            return url[len(b) + 1 :]
    return url


def process(bundle, base):
    """
    Process a batch or transaction Bundle dict for the active tenant; returns the response
    Bundle dict.

    A transaction is all-or-nothing: the first failing entry raises FhirError (with the
    entry's index in its expression) and nothing is stored. `urn:uuid:` fullUrls of created
    entries are replaced everywhere in the bundle by the ids assigned.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidResource(
            "POST to the base URL takes a Bundle of type batch or transaction.", expression="resourceType"
        )
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise InvalidResource(f"Bundle.type must be batch or transaction, not {kind!r}.", expression="Bundle.type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidResource("Bundle.entry must be a list.", expression="Bundle.entry")
    bases = (base, *store.local_bases())
    parsed = []
    for index, entry in enumerate(entries):
        where = f"Bundle.entry[{index}]"
        request = (entry or {}).get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise InvalidResource("Each entry needs request.method and request.url.", expression=f"{where}.request")
        if not all(isinstance(request.get(k, ""), str) for k in ("method", "url", "ifNoneExist", "ifMatch")) or not (
            isinstance(entry.get("fullUrl", ""), str)
        ):
            raise InvalidResource(
                "request.method, request.url, ifNoneExist, ifMatch and fullUrl must be strings.",
                expression=f"{where}.request",
            )
        method = request["method"].upper()
        if method not in _ORDER or method == "PATCH":
            raise InvalidResource(
                f"Method {method} is not supported in a {kind}.", expression=f"{where}.request.method"
            )
        match = _URL_RE.match(_relative_url(request["url"], bases))
        if not match:
            raise InvalidResource(f"'{request['url']}' is not a resource URL.", expression=f"{where}.request.url")
        parsed.append((index, entry, method, match))

    if kind == "transaction":
        mapping = {}
        for _index, entry, method, match in parsed:
            full_url = entry.get("fullUrl") or ""
            if method == "POST" and full_url.startswith("urn:"):
                mapping[full_url] = f"{match['type']}/{uuid.uuid4()}"
        with transaction.atomic():
            if mapping:
                _resolve_conditional(parsed, mapping)
            responses = {}
            for index, entry, method, match in sorted(parsed, key=lambda p: (_ORDER[p[2]], p[0])):
                try:
                    responses[index] = _run_entry(entry, method, match, mapping, kind)
                except FhirError as exc:
                    exc.issues = [
                        (s, c, f"Bundle.entry[{index}]: {d}", e or f"Bundle.entry[{index}]")
                        for s, c, d, e in exc.issues
                    ]
                    raise
        out = [responses[i] for i in range(len(parsed))]
    else:
        out = []
        for _index, entry, method, match in parsed:
            try:
                with transaction.atomic():
                    out.append(_run_entry(entry, method, match, {}, kind))
            except FhirError as exc:
                out.append({"response": {"status": f"{exc.status}", "outcome": operation_outcome(exc.issues)}})
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": f"{kind}-response", "entry": out}


def _resolve_conditional(parsed, mapping):
    # A conditional create that matches an existing resource maps its urn:uuid to that one.
    for _index, entry, method, match in parsed:
        if method != "POST":
            continue
        condition = (entry.get("request") or {}).get("ifNoneExist")
        full_url = entry.get("fullUrl") or ""
        if condition and full_url in mapping:
            existing = search.match_ids(match["type"], condition, limit=2)
            if len(existing) == 1:
                mapping[full_url] = f"{match['type']}/{existing[0]}"


def _response_entry(stored, status, include_resource=True):
    entry = {
        "response": {
            "status": status,
            "location": f"{stored.resource_type}/{stored.fhir_id}/_history/{stored.version_id}",
            "etag": stored.etag,
            "lastModified": store.instant(stored.last_updated),
        },
    }
    if include_resource:
        entry["resource"] = stored.as_dict()
    return entry


def _run_entry(entry, method, match, mapping, kind):
    resource_type, fhir_id, vid, query = match["type"], match["id"], match["vid"], match["query"]
    store.check_type(resource_type)
    request = entry.get("request") or {}
    body = entry.get("resource")
    if body is not None and mapping:
        body = _rewrite(body, mapping)
    if method == "POST":
        if fhir_id or body is None:
            raise InvalidResource("POST entries take a resource and a type-level URL.", expression="request.url")
        full_url = entry.get("fullUrl") or ""
        assigned = mapping.get(full_url, "").partition("/")[2] or None
        stored, created = store.create(resource_type, body, if_none_exist=request.get("ifNoneExist"), fhir_id=assigned)
        return _response_entry(stored, "201 Created" if created else "200 OK")
    if method == "PUT":
        if not fhir_id or body is None:
            raise InvalidResource(
                "PUT entries take a resource and an instance URL (conditional update is not supported).",
                expression="request.url",
            )
        stored, created = store.update(resource_type, fhir_id, body, if_match=request.get("ifMatch"))
        return _response_entry(stored, "201 Created" if created else "200 OK")
    if method == "DELETE":
        if not fhir_id:
            raise InvalidResource("Conditional delete is not supported.", expression="request.url")
        store.delete(resource_type, fhir_id)
        return {"response": {"status": "204 No Content"}}
    if fhir_id and vid:
        stored = store.vread(resource_type, fhir_id, vid)
        return _response_entry(stored, "200 OK")
    if fhir_id:
        stored = store.read(resource_type, fhir_id)
        return _response_entry(stored, "200 OK")
    result = search.search(resource_type, query or "")
    matches = [json.loads(r.content) for r in result.matches]
    return {
        "resource": {
            "resourceType": "Bundle",
            "type": "searchset",
            **({"total": result.total} if result.total is not None else {}),
            "entry": [{"resource": m, "search": {"mode": "match"}} for m in matches]
            + [{"resource": json.loads(r.content), "search": {"mode": "include"}} for r in result.includes],
        },
        "response": {"status": "200 OK"},
    }
