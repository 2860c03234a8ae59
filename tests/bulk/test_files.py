"""Output files (Bulk Data §3): NDJSON, one type per file, split, gzip, only for their client."""

import gzip
import json
from datetime import timedelta

from django.utils import timezone

from sandbox.bulk.models import ExportJob
from sandbox.fhirstore import store
from tenants.context import tenant_scope


def first_file(bulk, params=None):
    manifest = bulk.run("$export", params or {"_type": "Patient"})
    return manifest["output"][0]["url"]


def test_it_serves_ndjson_as_stored(bulk, data):
    """application/fhir+ndjson, one stored resource per line, byte for byte."""
    response = bulk.file(first_file(bulk), HTTP_ACCEPT="application/fhir+ndjson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    body = b"".join(response.streaming_content).decode()
    with tenant_scope(data):
        stored = sorted(store.read("Patient", f"p{i}").content for i in range(3))
    assert sorted(body.splitlines()) == stored
    assert body.endswith("\n") and int(response["Content-Length"]) == len(body.encode())


def test_it_gzips_when_the_client_accepts_it(bulk, data):
    """Accept-Encoding: gzip gives Content-Encoding: gzip (STU3 §3), as the bulk-data-client asks."""
    response = bulk.file(first_file(bulk), HTTP_ACCEPT_ENCODING="gzip, deflate, br, identity")
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    lines = gzip.decompress(b"".join(response.streaming_content)).decode().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == ["p0", "p1", "p2"]
    plain = bulk.file(first_file(bulk), HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
    assert "Content-Encoding" not in plain


def test_it_splits_files_at_the_configured_size(bulk, data, settings):
    """EXPORT_FILE_MAX_LINES: 3 patients at 2 per file make two Patient files with counts 2 and 1."""
    settings.EXPORT_FILE_MAX_LINES = 2
    manifest = bulk.run("$export", {"_type": "Patient"})
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Patient", 2), ("Patient", 1)]
    assert len({o["url"] for o in manifest["output"]}) == 2
    got = [p["id"] for o in manifest["output"] for p in bulk.lines(o["url"])]
    assert sorted(got) == ["p0", "p1", "p2"]


def test_it_splits_files_at_the_configured_bytes(bulk, data, settings):
    """EXPORT_FILE_MAX_BYTES: a file never grows past it (unless one line alone is longer)."""
    settings.EXPORT_FILE_MAX_BYTES = 1
    manifest = bulk.run("$export", {"_type": "Patient"})
    assert [o["count"] for o in manifest["output"]] == [1, 1, 1]


def test_it_needs_a_token(bulk, data):
    """requiresAccessToken is true: no token gets 401 (Inferno accepts 400 or 401)."""
    response = bulk.file(first_file(bulk), token="")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_another_clients_token(bulk, data, other_client_token):
    """Files download only with a token of the client that started the export."""
    response = bulk.file(first_file(bulk), token=other_client_token)
    assert response.status_code == 403


def test_it_refuses_another_tenants_token(bulk, data, other_tenant_token):
    """Another payer's token is unknown here; acme's file does not exist at beta."""
    url = first_file(bulk)
    assert bulk.file(url, token=other_tenant_token).status_code == 401
    assert bulk.file(url.replace("/t/acme/", "/t/beta/"), token=other_tenant_token).status_code == 404


def test_it_answers_410_for_an_expired_file(bulk, data):
    """An expired export's files answer 410 Gone with an OperationOutcome (as the reference server)."""
    url = first_file(bulk)
    with tenant_scope(data):
        ExportJob.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bulk.file(url)
    assert response.status_code == 410 and response.json()["resourceType"] == "OperationOutcome"


def test_it_answers_404_for_an_unknown_file(bulk, data):
    """A name the job does not have, including path tricks."""
    url = first_file(bulk)
    base = url.rsplit("/", 1)[0]
    assert bulk.file(base + "/Nope.1.ndjson").status_code == 404
    assert bulk.file(base + "/..%2F..%2Fsecret").status_code == 404
