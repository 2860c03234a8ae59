"""
Bulk Data export speed (issue 7, "Speed"): raw COPY baseline against the full protocol.

    .venv/bin/python bench/export.py --database postgres://sandbox@127.0.0.1:5432/bulk_bench --resources 1000000
    .venv/bin/python bench/export.py --database sqlite:////tmp/bulk_bench.sqlite3 --resources 200000

Loads a tenant "bench-export" through the store's bulk loader (COPY on PostgreSQL) unless it
already holds the requested number of resources, then in the same run:

1. baseline: the raw rows of that tenant to one file. PostgreSQL: `COPY (SELECT content ...)
   TO STDOUT` in CSV mode (the engine's own trick, no Python per row beyond the write);
   SQLite: a plain sqlite3 cursor over `content`.
2. protocol: gunicorn (gthread) and a Celery worker (threads pool, Redis broker) as child
   processes; system-level kick-off over HTTP, polling every Retry-After, download of every
   file (4 in parallel, identity encoding), end to end.

Prints resources/s for both and their ratio, the worker's build phase (claim to completion,
from the job row), and the worker's peak RSS (VmHWM) to show memory stays flat.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def members(first, count):
    """10 resources per member, about 1.2 KB each on average (claims-history-like payloads)."""
    note = "Synthetic clinical note for export benchmarking. " * 12
    for n in range(first, first + count):
        pid = f"m{n}"
        yield {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": "urn:bench:member", "value": f"M{n:08d}"}],
            "name": [{"family": f"Family{n % 997}", "given": [f"Given{n % 101}"]}],
            "gender": "female" if n % 2 else "male",
            "birthDate": f"19{50 + n % 50}-0{1 + n % 9}-1{n % 10}",
        }
        yield {
            "resourceType": "Coverage",
            "id": f"cov-{pid}",
            "status": "active",
            "beneficiary": {"reference": f"Patient/{pid}"},
            "payor": [{"reference": "Organization/bench-payer"}],
        }
        for k in range(6):
            yield {
                "resourceType": "Observation",
                "id": f"obs-{pid}-{k}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": f"2024-0{1 + k}-1{k}T10:00:00Z",
                "valueQuantity": {"value": 60 + (n + k) % 40, "unit": "/min", "system": "http://unitsofmeasure.org"},
                "note": [{"text": note}],
            }
        for k in range(2):
            yield {
                "resourceType": "Condition",
                "id": f"cond-{pid}-{k}",
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "Hypertension"},
                "note": [{"text": note}],
            }


def setup_django(database):
    os.environ["DATABASE_URL"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    os.environ.setdefault("SANDBOX_DATA_DIR", str(Path(tempfile.gettempdir()) / "bulk-bench-data"))
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_data(total):
    from sandbox.fhirstore import store
    from sandbox.fhirstore.models import Resource
    from tenants.context import tenant_scope
    from tenants.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-export", defaults={"name": "Bench Export", "status": Tenant.Status.READY}
    )
    with tenant_scope(tenant):
        have = Resource.objects.count()
    wanted_members = total // 10
    if have >= total:
        return tenant, have
    with tenant_scope(tenant):
        if not Resource.objects.filter(resource_type="Organization", fhir_id="bench-payer").exists():
            store.bulk_load([{"resourceType": "Organization", "id": "bench-payer", "name": "Bench"}], validate=False)
    with tenant_scope(tenant):
        first = Resource.objects.filter(resource_type="Patient").count()
    started, step = time.perf_counter(), 2000
    for start in range(first, wanted_members, step):
        with tenant_scope(tenant):
            store.bulk_load(members(start, min(step, wanted_members - start)), validate=False)
        done = (start + step - first) * 10
        print(f"\r  loaded {done:>9} resources  {done / (time.perf_counter() - started):8.0f}/s", end="", flush=True)
    print()
    with tenant_scope(tenant):
        return tenant, Resource.objects.count()


def baseline(tenant, out_path):
    """The raw rows to one file, as fast as this machine goes; returns (rows, seconds)."""
    from django.db import connection

    from tenants.context import tenant_scope

    rows = 0
    started = time.perf_counter()
    with tenant_scope(tenant), open(out_path, "wb") as out:
        if connection.vendor == "postgresql":
            sql = (
                "COPY (SELECT content FROM fhirstore_resource WHERE tenant_id = %s AND NOT deleted) "
                "TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
            )
            with connection.connection.cursor() as cursor, cursor.copy(sql, [tenant.pk]) as copy:
                for row in copy:
                    out.write(row)
                    rows += 1
        else:
            cursor = connection.connection.cursor()
            cursor.execute("SELECT content FROM fhirstore_resource WHERE tenant_id = ? AND NOT deleted", [tenant.pk])
            while batch := cursor.fetchmany(5000):
                for (content,) in batch:
                    out.write(content.encode())
                    out.write(b"\n")
                rows += len(batch)
    return rows, time.perf_counter() - started


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def protocol(tenant, database, broker, workdir):
    """Kick-off, polling and download over HTTP against gunicorn + a Celery worker."""
    import httpx

    from sandbox.bulk.models import ExportJob
    from sandbox.oauth.tokens import mint_token
    from tenants.context import tenant_scope

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "SANDBOX_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DEBUG": "false",
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    logs = open(Path(workdir) / "children.log", "wb")  # noqa: SIM115
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "sandbox.wsgi:application", "-k", "gthread", "--threads", "8", "-w", "2"]
        + ["-b", f"127.0.0.1:{port}", "--timeout", "600"],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "sandbox", "worker", "--pool", "threads", "--concurrency", "2"]
        + ["--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    try:
        token = mint_token(tenant, "system/*.read").token
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}/t/{tenant.slug}/fhir"
        with httpx.Client(timeout=600) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get(f"{base}/metadata")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            time.sleep(2)  # the worker connects to the broker

            started = time.perf_counter()
            kick = client.get(
                f"{base}/$export",
                headers={**headers, "Accept": "application/fhir+json", "Prefer": "respond-async"},
            )
            assert kick.status_code == 202, kick.text
            status_url = kick.headers["Content-Location"]
            polls = 0
            while True:
                status = client.get(status_url, headers={**headers, "Accept": "application/json"})
                polls += 1
                if status.status_code == 200:
                    break
                assert status.status_code == 202, status.text
                time.sleep(float(status.headers.get("Retry-After", "1")))
            manifest = status.json()
            built = time.perf_counter()

            def download(item):
                lines = 0
                size = 0
                with client.stream("GET", item["url"], headers={**headers, "Accept-Encoding": "identity"}) as r:
                    assert r.status_code == 200, r.status_code
                    for block in r.iter_raw(1 << 20):
                        size += len(block)
                        lines += block.count(b"\n")
                assert lines == item["count"], (item, lines)
                return lines, size

            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(download, manifest["output"]))
            finished = time.perf_counter()
        with tenant_scope(tenant):
            job = ExportJob.objects.get(uuid=status_url.rsplit("/", 1)[1])
        return {
            "resources": sum(r[0] for r in results),
            "bytes": sum(r[1] for r in results),
            "files": len(results),
            "seconds": finished - started,
            "until_manifest": built - started,
            "download": finished - built,
            "build": (job.finished_at - job.started_at).total_seconds(),
            "polls": polls,
            "worker_rss_mb": peak_rss_mb(worker.pid),
        }
    finally:
        for process in (web, worker):
            process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="postgres://sandbox@127.0.0.1:5432/bulk_bench")
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    setup_django(args.database)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.db import connection

    print(f"Database: {connection.vendor}; loading up to {args.resources} resources")
    tenant, total = ensure_data(args.resources)
    print(f"Tenant {tenant.slug}: {total} resources")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE fhirstore_resource")
    # Other processes on the machine skew every figure; the load average says how much.
    one, five, fifteen = os.getloadavg()
    print(f"load average {one:.1f} {five:.1f} {fifteen:.1f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as workdir:
        baseline(tenant, Path(workdir) / "warm.ndjson")  # warm the cache, as the protocol run will be
        rows, seconds = baseline(tenant, Path(workdir) / "baseline.ndjson")
        size = (Path(workdir) / "baseline.ndjson").stat().st_size
        raw_rate = rows / seconds
        print(
            f"raw baseline   {rows:>9} resources  {seconds:7.2f} s  {raw_rate:9.0f} resources/s  "
            f"{size / seconds / 1e6:6.0f} MB/s"
        )
        os.unlink(Path(workdir) / "baseline.ndjson")
        os.unlink(Path(workdir) / "warm.ndjson")
        result = protocol(tenant, args.database, args.broker, workdir)
    rate = result["resources"] / result["seconds"]
    print(
        f"protocol       {result['resources']:>9} resources  {result['seconds']:7.2f} s  {rate:9.0f} resources/s  "
        f"{result['bytes'] / result['seconds'] / 1e6:6.0f} MB/s  ({result['files']} files, {result['polls']} polls)"
    )
    print(f"  kick-off to manifest {result['until_manifest']:.2f} s, downloads {result['download']:.2f} s")
    print(f"  worker build phase   {result['build']:.2f} s  {result['resources'] / result['build']:9.0f} resources/s")
    if result["worker_rss_mb"]:
        print(f"  worker peak RSS      {result['worker_rss_mb']:.0f} MB")
    print(f"ratio protocol/raw    {rate / raw_rate:.2f}  (target >= 0.5)")
    one, five, fifteen = os.getloadavg()
    print(f"load average {one:.1f} {five:.1f} {fifteen:.1f}")


if __name__ == "__main__":
    main()
