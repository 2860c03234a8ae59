"""
Loading participants' own FHIR data into a payer: FHIR Bundles (batch, transaction or
collection) and NDJSON files, from the dashboard upload page and `manage.py load_data`.

Two passes over the files. The first validates every resource (structure per R4B, a served
type, a usable id, no id twice) and collects a report per NDJSON line or Bundle entry; the
second runs only when nothing is wrong and writes everything in one transaction, so a load
is all or nothing. Both passes stream: NDJSON line by line, a Bundle entry by entry, so only
one chunk of resources is in memory at a time.

Resources keep their ids (a loaded id that already exists replaces that resource, as an
update would). A Bundle entry without an id takes the UUID of its `urn:uuid:` fullUrl, and
references to that fullUrl are rewritten to `Type/id`.
"""

import io
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import reset_queries

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.models import Resource
from tenants.context import tenant_scope

BUNDLE_TYPES = ("batch", "transaction", "collection")
LOADABLE_METHODS = ("POST", "PUT")
MAX_PROBLEMS = 200
CHUNK = 1000
_READ_SIZE = 1 << 16
_URN = re.compile(r"^urn:(uuid|oid):")


@dataclass(frozen=True)
class Source:
    """One file to load: a display name and a callable opening it as binary."""

    name: str
    open_binary: Callable[[], object]
    size: int | None = None  # bytes, for progress reports

    @classmethod
    def from_path(cls, path, name=None):
        path = Path(path)
        return cls(name or path.name, lambda: path.open("rb"), path.stat().st_size)

    @classmethod
    def from_upload(cls, uploaded):
        """A Django UploadedFile (kept open by Django until the request ends)."""

        @contextmanager
        def opener():
            uploaded.seek(0)
            yield uploaded

        return cls(uploaded.name, opener, uploaded.size)


@dataclass(frozen=True)
class Problem:
    file: str
    where: str  # "line 3", "entry 2" (0-based, as FHIRPath Bundle.entry[2]) or "file"
    message: str

    def __str__(self):
        return f"{self.file}, {self.where}: {self.message}"


@dataclass
class LoadResult:
    """What a load found and did: problems (the first MAX_PROBLEMS), counts per type."""

    problems: list = field(default_factory=list)
    problem_count: int = 0
    counts: Counter = field(default_factory=Counter)
    created: int = 0
    updated: int = 0
    loaded: bool = False

    @property
    def ok(self):
        return self.problem_count == 0

    @property
    def total(self):
        return sum(self.counts.values())

    def add_problem(self, problem):
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


@dataclass
class _Item:
    """One resource read from a file, before or after validation."""

    where: str
    resource: dict | None
    resource_type: str = ""
    fhir_id: str = ""
    full_url: str = ""
    problems: list = field(default_factory=list)


class _StreamReader:
    """Incremental JSON reading of one large document, value by value (the stdlib decoder on a sliding buffer)."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = ""
        self.pos = 0
        self.decoder = json.JSONDecoder()
        self.size = _READ_SIZE

    def _fill(self):
        more = self.stream.read(self.size)
        self.buffer = self.buffer[self.pos :] + more
        self.pos = 0
        return bool(more)

    def peek(self):
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return ""

    def expect(self, char):
        if self.peek() != char:
            found = self.peek() or "the end of the file"
            raise ValueError(f"expected '{char}' but found '{found}'")
        self.pos += 1

    def value(self):
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if not self._grow():
                    raise ValueError(exc.msg) from None
                continue
            # A number may continue past the end of the buffer.
            if end == len(self.buffer) and not isinstance(value, dict | list | str) and self._grow():
                continue
            self.pos = end
            return value

    def _grow(self):
        # Each retry re-parses the value from its start; doubling keeps that linear overall.
        self.size = min(self.size * 2, 1 << 26)
        return self._fill()


def _iter_bundle(stream) -> Iterator[tuple[str, object, object]]:
    """Yield ("field", name, value) for the Bundle's top-level elements and ("entry", index, entry) per entry."""
    reader = _StreamReader(stream)
    reader.expect("{")
    if reader.peek() == "}":
        return
    while True:
        name = reader.value()
        if not isinstance(name, str):
            raise ValueError("expected an element name")
        reader.expect(":")
        if name == "entry" and reader.peek() == "[":
            reader.expect("[")
            index = 0
            if reader.peek() == "]":
                reader.pos += 1
            else:
                while True:
                    yield "entry", index, reader.value()
                    index += 1
                    if reader.peek() == ",":
                        reader.pos += 1
                        continue
                    reader.expect("]")
                    break
        else:
            yield "field", name, reader.value()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.expect("}")
        break
    if reader.peek():
        raise ValueError("unexpected content after the Bundle")


def _detect(name, text_stream):
    """
    "ndjson" or "bundle": a .ndjson / .jsonl name, or a first line that is a whole non-Bundle
    resource, means NDJSON.
    """
    if name.lower().endswith((".ndjson", ".jsonl")):
        return "ndjson"
    first = text_stream.readline()
    while first and not first.strip():
        first = text_stream.readline()
    if not first:
        return "empty"
    try:
        parsed = json.loads(first)
    except ValueError:
        return "bundle"
    if isinstance(parsed, dict) and parsed.get("resourceType") == "Bundle":
        rest = text_stream.readline()
        while rest and not rest.strip():
            rest = text_stream.readline()
        return "bundle" if not rest else "ndjson"
    return "ndjson"


@contextmanager
def _text(source):
    with source.open_binary() as binary:
        wrapper = io.TextIOWrapper(binary, encoding="utf-8-sig")
        try:
            yield wrapper
        finally:
            # Detach so that closing the wrapper never closes Django's upload file.
            wrapper.detach()


def _read_items(source, result, bundle_meta, position=None):
    """
    Yield an _Item per resource of `source`; file-level problems go straight into `result`.
    `position`, when given, is told how many bytes of the file have been read.
    """
    try:
        with _text(source) as stream:
            kind = _detect(source.name, stream)
        with _text(source) as stream:
            if position is not None:
                position.reading(stream.buffer)
            if kind == "empty":
                result.add_problem(Problem(source.name, "file", "The file is empty."))
            elif kind == "ndjson":
                yield from _ndjson_items(stream)
            else:
                yield from _bundle_items(source, stream, result, bundle_meta)
    except UnicodeDecodeError:
        result.add_problem(Problem(source.name, "file", "The file is not UTF-8 text."))


def _ndjson_items(stream):
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            resource = json.loads(line)
        except ValueError as exc:
            yield _Item(where, None, problems=[f"Not valid JSON: {exc}."])
            continue
        if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
            yield _Item(where, None, problems=["A Bundle inside an NDJSON file; upload a Bundle as a file of its own."])
            continue
        yield _Item(where, resource)


def _bundle_items(source, stream, result, bundle_meta):
    seen_fields = {}
    try:
        for kind, key, value in _iter_bundle(stream):
            if kind == "field":
                seen_fields[key] = value
                continue
            yield _entry_item(key, value)
    except ValueError as exc:
        result.add_problem(Problem(source.name, "file", f"Not a valid JSON Bundle: {exc}."))
        return
    if seen_fields.get("resourceType") != "Bundle":
        result.add_problem(
            Problem(
                source.name,
                "file",
                "Neither NDJSON (one resource per line) nor a JSON object with resourceType Bundle.",
            )
        )
    elif seen_fields.get("type") not in BUNDLE_TYPES:
        result.add_problem(
            Problem(
                source.name,
                "file",
                f"Bundle.type is {seen_fields.get('type')!r}; "
                "only batch, transaction and collection Bundles can be loaded.",
            )
        )
    bundle_meta[source.name] = seen_fields.get("type")


def _entry_item(index, entry):
    where = f"entry {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        return _Item(where, None, problems=["The entry holds no resource."])
    resource = entry["resource"]
    item = _Item(where, resource, full_url=str(entry.get("fullUrl") or ""))
    request = entry.get("request")
    if isinstance(request, dict):
        method = str(request.get("method", "")).upper()
        if method not in LOADABLE_METHODS:
            item.problems.append(
                f"request.method {method or '(none)'} cannot be loaded; only POST and PUT entries can."
            )
        url = str(request.get("url", ""))
        if method == "PUT" and "?" not in url and "/" in url:
            item.fhir_id = url.rstrip("/").rsplit("/", 1)[1]
            if resource.get("id") not in (None, item.fhir_id):
                item.problems.append(f"resource.id {resource.get('id')!r} differs from request.url {url!r}.")
    return item


def _identify(item):
    """Fill in the item's type and id; False (with a problem noted) when it has none."""
    resource = item.resource
    if resource is None:
        return False
    if not isinstance(resource, dict):
        item.problems.append("A line must hold one JSON object (a FHIR resource).")
        return False
    item.resource_type = str(resource.get("resourceType") or "")
    if not item.resource_type:
        item.problems.append("The resource has no resourceType.")
        return False
    if not item.fhir_id:
        item.fhir_id = resource.get("id") or ""
    if not item.fhir_id and _URN.match(item.full_url):
        item.fhir_id = item.full_url.split(":", 2)[2]
    if not item.fhir_id:
        item.fhir_id = str(uuid.uuid4())
    return True


def _check(item):
    """Fill in type and id and collect the item's validation problems."""
    if not _identify(item):
        return
    resource = item.resource
    try:
        store.check_type(item.resource_type)
        store.parse_body(item.resource_type, {**resource, "id": item.fhir_id})
    except FhirError as exc:
        item.problems.extend(_messages(exc))


def _messages(exc):
    issues = getattr(exc, "issues", None) or []
    details = [f"{expression}: {message}" if expression else message for _s, _c, message, expression in issues]
    return details or [str(exc.args[0] if exc.args else exc)]


class _Progress:
    """
    Calls report(fraction, message) once per CHUNK resources. Validating is the first half of
    the work, measured in bytes read (the count of resources is not known yet); writing is the
    second half, measured in resources written.
    """

    def __init__(self, report, sources):
        self.report = report
        self.total_bytes = sum(source.size or 0 for source in sources)
        self.done_bytes = 0
        self.binary = None
        self.seen = 0

    def reading(self, binary):
        self.binary = binary

    def next_source(self, source):
        self.done_bytes += source.size or 0
        self.binary = None

    def checked(self):
        self.seen += 1
        if self.report is None or self.seen % CHUNK:
            return
        read = self.done_bytes
        if self.binary is not None:
            try:
                read += self.binary.tell()
            except (OSError, ValueError):
                pass
        share = min(1.0, read / self.total_bytes) if self.total_bytes else 0.0
        self.report(share / 2, f"Validating: {self.seen:,} resources read")

    def written(self, done, total):
        if self.report is not None:
            self.report(0.5 + (done / total / 2 if total else 0.5), f"Writing: {done:,} of {total:,} resources")


def validate(sources, report=None):
    """
    First pass: read and validate every resource of every source, without writing anything.

    Returns (LoadResult with problems and counts, map of urn fullUrl -> "Type/id").
    """
    result = LoadResult()
    seen = {}
    urns = {}
    bundle_meta = {}
    progress = _Progress(report, sources)
    for source in sources:
        for item in _read_items(source, result, bundle_meta, progress):
            progress.checked()
            _check(item)
            for message in item.problems:
                result.add_problem(Problem(source.name, item.where, message))
            if item.problems or item.resource is None:
                continue
            key = f"{item.resource_type}/{item.fhir_id}"
            if key in seen:
                result.add_problem(Problem(source.name, item.where, f"{key} is loaded twice (also {seen[key]})."))
                continue
            seen[key] = f"{item.where} of {source.name}"
            if _URN.match(item.full_url):
                urns[item.full_url] = key
            result.counts[item.resource_type] += 1
        progress.next_source(source)
    if not result.counts and result.ok:
        result.add_problem(Problem(", ".join(s.name for s in sources) or "upload", "file", "No resources to load."))
    return result, urns


def _rewrite(value, urns):
    if isinstance(value, dict):
        return {key: _rewrite(item, urns) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, urns) for item in value]
    if isinstance(value, str) and value in urns:
        return urns[value]
    return value


def _write_chunk(chunk):
    """Insert the new resources of a chunk with bulk_load, replace the existing ones with update."""
    created = updated = 0
    by_type = {}
    for resource in chunk:
        by_type.setdefault(resource["resourceType"], []).append(resource["id"])
    existing = set()
    for resource_type, ids in by_type.items():
        # Deleted rows count as existing: their id is taken, and update revives them.
        existing.update(
            (resource_type, fhir_id)
            for fhir_id in Resource.objects.filter(resource_type=resource_type, fhir_id__in=ids).values_list(
                "fhir_id", flat=True
            )
        )
    fresh = [r for r in chunk if (r["resourceType"], r["id"]) not in existing]
    if fresh:
        created += store.bulk_load(fresh, validate=False)
    for resource in chunk:
        if (resource["resourceType"], resource["id"]) in existing:
            store.update(resource["resourceType"], resource["id"], resource)
            updated += 1
    # With DEBUG on, the connection's query log would otherwise hold every chunk's SQL until the end.
    reset_queries()
    return created, updated


def load(tenant, sources, report=None):
    """
    Validate then load FHIR data files into `tenant`'s store, all or nothing.

    `sources` are Source objects (files are read twice). Returns a LoadResult: with problems,
    nothing was written; otherwise `loaded` is set with the created and updated counts.
    report(fraction, message), when given, hears how far the work has got.
    """
    result, urns = validate(sources, report)
    if not result.ok:
        return result
    progress = _Progress(report, sources)
    with tenant_scope(tenant):
        chunk = []
        for source in sources:
            scratch = LoadResult()
            for item in _read_items(source, scratch, {}):
                # Validated in the first pass; the second only needs the type and id again.
                _identify(item)
                resource = {**item.resource, "id": item.fhir_id}
                chunk.append(_rewrite(resource, urns) if urns else resource)
                if len(chunk) >= CHUNK:
                    created, updated = _write_chunk(chunk)
                    result.created, result.updated = result.created + created, result.updated + updated
                    progress.written(result.created + result.updated, result.total)
                    chunk = []
        if chunk:
            created, updated = _write_chunk(chunk)
            result.created, result.updated = result.created + created, result.updated + updated
            progress.written(result.created + result.updated, result.total)
    result.loaded = True
    return result
