"""
Benchmark of Patient/$member-match (issue 8, "Speed"): not a test, run it by hand on PostgreSQL.

    DATABASE_URL=postgres://sandbox@127.0.0.1:5432/bench .venv/bin/python bench/member_match.py

What it does:
1. migrates the database, creates tenants mm-small and mm-large (ready) and a token for each
   with the HRex member-match scope;
2. loads --small members into mm-small and --large members into mm-large (a Patient and a
   Coverage each, through store.bulk_load / PostgreSQL COPY; resumable);
3. starts gunicorn (gthread) on the project's WSGI app;
4. for each tenant, --clients concurrent keep-alive clients POST member-match-in Parameters
   for random members for --duration seconds (every request is a unique match: 200, a Consent
   stored and the match recorded, as in real use);
5. prints p50/p99 latency and requests/s per tenant, and the large/small ratio.

Targets (issue 8): p99 under 50 ms, and at most 1.5 times slower at 100,000 than at 10,000.
Family names come from a pool of 20,000 and birth dates from 60 years, so the demographic
lookup returns a handful of candidates, as with real member files.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")

import django  # noqa: E402

from bench.harness import drive, percentile, start_gunicorn  # noqa: E402

django.setup()

CHUNK = 5000
MEMBER_MATCH = "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
SYSTEM = "http://bench.example/member-id"


def demographics(i):
    rng = random.Random(i)
    return {
        "family": f"Family{rng.randrange(20_000)}",
        "given": f"Given{rng.randrange(2_000)}",
        "gender": ("female", "male")[i % 2],
        "birthDate": (date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))).isoformat(),
        "member_id": f"M{i:09d}",
    }


def member(i):
    d = demographics(i)
    patient = {
        "resourceType": "Patient",
        "id": f"pat-{i}",
        "identifier": [{"system": SYSTEM, "value": d["member_id"]}],
        "name": [{"family": d["family"], "given": [d["given"]]}],
        "gender": d["gender"],
        "birthDate": d["birthDate"],
    }
    coverage = {
        "resourceType": "Coverage",
        "id": f"cov-{i}",
        "identifier": [{"system": SYSTEM, "value": d["member_id"]}],
        "status": "active",
        "subscriberId": d["member_id"],
        "beneficiary": {"reference": f"Patient/pat-{i}"},
        "payor": [{"display": "Bench Health"}],
    }
    return [patient, coverage]


def request_body(i):
    d = demographics(i)
    today = date.today()
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "MemberPatient",
                "resource": {
                    "resourceType": "Patient",
                    "id": "1",
                    "name": [{"family": d["family"], "given": [d["given"]]}],
                    "gender": d["gender"],
                    "birthDate": d["birthDate"],
                },
            },
            {
                "name": "CoverageToMatch",
                "resource": {
                    "resourceType": "Coverage",
                    "id": "c1",
                    "identifier": [{"system": SYSTEM, "value": d["member_id"]}],
                    "status": "active",
                    "beneficiary": {"reference": "Patient/1"},
                    "payor": [{"display": "Bench Health"}],
                },
            },
            {
                "name": "Consent",
                "resource": {
                    "resourceType": "Consent",
                    "status": "active",
                    "scope": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
                        ]
                    },
                    "category": [
                        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]}
                    ],
                    "patient": {"reference": "Patient/1"},
                    "policy": [
                        {"uri": "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular"}
                    ],
                    "provision": {
                        "type": "permit",
                        "period": {"start": (today - timedelta(days=1)).isoformat(), "end": f"{today.year + 1}-12-31"},
                    },
                },
            },
        ],
    }


def load(tenant, total):
    from sandbox.fhirstore import store
    from sandbox.fhirstore.models import Resource
    from tenants.context import tenant_scope

    with tenant_scope(tenant):
        have = Resource.objects.filter(resource_type="Patient").count()
    started = time.perf_counter()
    for start in range(have, total, CHUNK):
        batch = [r for i in range(start, min(start + CHUNK, total)) for r in member(i)]
        with tenant_scope(tenant):
            store.bulk_load(batch, validate=False)
    if total > have:
        print(f"  {tenant.slug}: loaded {total - have} members in {time.perf_counter() - started:.0f}s", flush=True)


def analyze():
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("resource", "searchtoken", "searchstring", "searchreference", "searchdate"):
            cursor.execute(f"ANALYZE fhirstore_{table}")


def setup_tenants():
    from django.core.management import call_command

    from sandbox.oauth.tokens import mint_token
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    out = []
    for slug in ("mm-small", "mm-large"):
        tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug, "status": Tenant.Status.READY})
        out.append((tenant, mint_token(tenant, f"system/*.read {MEMBER_MATCH}", lifetime=24 * 3600).token))
    return out


def start_server(port, workers, threads):
    return start_gunicorn(
        "sandbox.wsgi:application",
        port,
        workers=workers,
        threads=threads,
        ready_path="/t/mm-small/fhir/metadata",
        log_level="WARNING",
    )


def run(port, token, slug, members, clients, duration):
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/fhir+json",
        "Content-Type": "application/fhir+json",
    }
    url = f"/t/{slug}/fhir/Patient/$member-match"

    def make_request(rng):
        return "POST", url, json.dumps(request_body(rng.randrange(members))), headers

    def check(status, url, body):
        return f"{status} {body[:300]!r}" if status != 200 else None

    return drive(port, clients, duration, make_request, check)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args()

    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("Run the benchmark on PostgreSQL: DATABASE_URL=postgres://...")
    (small, small_token), (large, large_token) = setup_tenants()
    print("loading", flush=True)
    load(small, args.small)
    load(large, args.large)
    analyze()
    server = start_server(args.port, args.workers, args.threads)
    results = {}
    try:
        for label, tenant, token, members in (
            ("small", small, small_token, args.small),
            ("large", large, large_token, args.large),
        ):
            run(args.port, token, tenant.slug, members, args.clients, 2)  # warm up
            latencies, rate, errors = run(args.port, token, tenant.slug, members, args.clients, args.duration)
            results[label] = {
                "members": members,
                "p50": statistics.median(latencies) if latencies else float("nan"),
                "p99": percentile(latencies, 0.99),
                "rps": rate,
                "errors": len(errors),
            }
            if errors:
                print(f"  {label}: {len(errors)} errors, first: {errors[0]}", flush=True)
    finally:
        server.terminate()
        server.wait()
    print(f"\n$member-match over HTTP ({args.clients} clients, {args.duration}s each)")
    print(f"{'tenant':<10}{'members':>10}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'errors':>8}")
    for label, r in results.items():
        print(f"{label:<10}{r['members']:>10,}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['rps']:>10.0f}{r['errors']:>8}")
    print(
        f"large/small: p50 {results['large']['p50'] / results['small']['p50']:.2f}x, "
        f"p99 {results['large']['p99'] / results['small']['p99']:.2f}x"
    )


if __name__ == "__main__":
    main()
