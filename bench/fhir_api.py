"""
Benchmark of the FHIR API (issue 3, "Speed"): not a test, run it by hand on PostgreSQL.

    DATABASE_URL=postgres://sandbox@127.0.0.1:5432/bench .venv/bin/python bench/fhir_api.py

What it does:
1. migrates the database, creates tenants bench-a and bench-b (ready) and a token for each;
2. loads bench-a up to --large resources and bench-b up to --small resources through
   store.bulk_load (PostgreSQL COPY); they use the same ids, so each is the other's neighbour
   and isolation is exercised too;
3. starts gunicorn (gthread) on this module's `application`, which is the project's WSGI app
   plus one trivial Django view at /bench/trivial/ for the baseline;
4. for bench-b (small) and then bench-a (large), runs each scenario with --clients concurrent
   keep-alive clients for --duration seconds, in --slice second slices alternating with as many
   slices of the trivial view: tenant-404, read by id, Patient?identifier=,
   ExplanationOfBenefit?patient=, and ExplanationOfBenefit?patient=&_revinclude=Provenance:target;
5. prints p50/p99 latency, requests/s (median of the slices), the ratio to the trivial view
   (median of the slice pairs' ratios, and their range), the CPU each request cost gunicorn and
   PostgreSQL with the same ratio computed from it, and the large/small p50 ratio of each
   scenario.

`--only read,search-token` runs a subset (the trivial view always runs, as the baseline).
Compare a setting by running twice, e.g. with DB_PREPARED_STATEMENTS=false and without.

Data mix per 10 resources: 2 Patients, 6 ExplanationOfBenefits (3 per patient), 2 Provenance
(targeting every third EOB). Loading is resumable: rows already present are not reloaded.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")

import django  # noqa: E402

from bench.harness import CpuMeter, drive, percentile, start_gunicorn  # noqa: E402

django.setup()

from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from sandbox import urls as root_urls  # noqa: E402


def trivial(request):
    return HttpResponse(b'{"ok":true}', content_type="application/json")


root_urls.urlpatterns.insert(0, path("bench/trivial/", trivial))

from sandbox.wsgi import application  # noqa: E402,F401

CHUNK = 5000
# tenant-404 is the FHIR catch-all 404 under /t/<slug>/: the tenant middleware (tenant lookup,
# transaction, row-level-security setting) without authentication or store work, to show where
# the time of the real scenarios goes.
SCENARIOS = ("trivial", "tenant-404", "read", "search-token", "search-reference", "search-revinclude")
EXPECTED_STATUS = {"tenant-404": 404}


def patient(i):
    return {
        "resourceType": "Patient",
        "id": f"pat-{i}",
        "identifier": [{"system": "http://bench.example/member", "value": f"M{i:08d}"}],
        "name": [{"family": f"Family{i % 5000}", "given": [f"Given{i % 700}"]}],
        "gender": ("female", "male")[i % 2],
        "birthDate": f"19{40 + i % 60:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
    }


def eob(i):
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": f"eob-{i}",
        "identifier": [{"system": "http://bench.example/claim", "value": f"C{i:09d}"}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "pharmacy"}]},
        "use": "claim",
        "patient": {"reference": f"Patient/pat-{i // 3}"},
        "billablePeriod": {"start": f"2024-{1 + i % 12:02d}-01", "end": f"2024-{1 + i % 12:02d}-02"},
        "created": "2024-06-01T00:00:00Z",
        "insurer": {"reference": "Organization/payer"},
        "provider": {"reference": f"Practitioner/prac-{i % 1000}"},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/cov-{i // 3}"}}],
    }


def provenance(i):
    return {
        "resourceType": "Provenance",
        "id": f"prov-{i}",
        "target": [{"reference": f"ExplanationOfBenefit/eob-{i * 3}"}],
        "recorded": "2024-06-01T00:00:00Z",
        "agent": [{"who": {"reference": "Organization/payer"}}],
    }


def load(tenant, total):
    """Grow `tenant` to `total` resources in the 2:6:2 mix, in COPY chunks."""
    from sandbox.fhirstore import store
    from sandbox.fhirstore.models import Resource
    from tenants.context import tenant_scope

    wanted = {"Patient": total // 5, "ExplanationOfBenefit": total * 3 // 5, "Provenance": total // 5}
    makers = {"Patient": patient, "ExplanationOfBenefit": eob, "Provenance": provenance}
    for resource_type, count in wanted.items():
        with tenant_scope(tenant):
            have = Resource.objects.filter(resource_type=resource_type).count()
        started = time.perf_counter()
        for start in range(have, count, CHUNK):
            batch = [makers[resource_type](i) for i in range(start, min(start + CHUNK, count))]
            with tenant_scope(tenant):
                store.bulk_load(batch, validate=False)
        if count > have:
            rate = (count - have) / (time.perf_counter() - started)
            print(f"  {tenant.slug}: loaded {count - have} {resource_type} ({rate:,.0f}/s)", flush=True)
    return wanted


def analyze():
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("resource", "resourceversion", "searchtoken", "searchstring", "searchreference", "searchdate"):
            # VACUUM too, as autovacuum would have done by the time a deployment serves such a
            # table (some PostgreSQL servers, this machine's among them, run without it): rows
            # loaded by COPY otherwise dirty their pages on first read, to set their hint bits.
            cursor.execute(f"VACUUM (ANALYZE) fhirstore_{table}")
        # Each run mints a token: statistics as autovacuum would keep them, so that the plan of
        # the request's statement looks the token up by its checksum.
        cursor.execute("ANALYZE oauth_accesstoken")
        cursor.execute("ANALYZE oauth_application")


def setup_tenants():
    from django.core.management import call_command

    from sandbox.oauth.tokens import mint_token
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenants = []
    for slug in ("bench-a", "bench-b"):
        tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug, "status": Tenant.Status.READY})
        tenants.append((tenant, mint_token(tenant, "system/*.read", lifetime=24 * 3600).token))
    return tenants


def prepared_tenants(small, large):
    """
    ((bench-a, its token, its sizes), (bench-b, ...)) on PostgreSQL, bench-a grown to `large`
    resources and bench-b to `small`, vacuumed and analyzed: what both FHIR benchmarks measure.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("Run the benchmark on PostgreSQL: DATABASE_URL=postgres://...")
    (tenant_a, token_a), (tenant_b, token_b) = setup_tenants()
    print("loading", flush=True)
    small_sizes = load(tenant_b, small)
    large_sizes = load(tenant_a, large)
    analyze()
    return (tenant_a, token_a, large_sizes), (tenant_b, token_b, small_sizes)


def start_server(port, workers, threads):
    return start_gunicorn(
        "bench.fhir_api:application", port, workers=workers, threads=threads, ready_path="/bench/trivial/"
    )


def paths(scenario, slug, sizes, rng):
    patients = sizes["Patient"]
    if scenario == "trivial":
        return "/bench/trivial/"
    if scenario == "tenant-404":
        return f"/t/{slug}/fhir/bench-no-such-endpoint"
    if scenario == "read":
        return f"/t/{slug}/fhir/ExplanationOfBenefit/eob-{rng.randrange(sizes['ExplanationOfBenefit'])}"
    if scenario == "search-token":
        return f"/t/{slug}/fhir/Patient?identifier=M{rng.randrange(patients):08d}"
    if scenario == "search-reference":
        return f"/t/{slug}/fhir/ExplanationOfBenefit?patient=Patient/pat-{rng.randrange(patients)}"
    return (
        f"/t/{slug}/fhir/ExplanationOfBenefit?patient=Patient/pat-{rng.randrange(patients)}"
        "&_revinclude=Provenance:target"
    )


def run(port, token, slug, scenario, sizes, clients, duration):
    """(latencies in ms, requests/s, errors) for one scenario."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}

    def make_request(rng):
        return "GET", paths(scenario, slug, sizes, rng), None, headers

    def check(status, url, body):
        if status != EXPECTED_STATUS.get(scenario, 200):
            return f"{status} {url} {body[:200]!r}"
        # A byte search, not json.loads (14 µs a bundle): the clients share the server's cores.
        if scenario.startswith("search") and b'"entry":' not in body:
            return f"empty result for {url}"
        return None

    return drive(port, clients, duration, make_request, check)


def _slice(port, token, slug, scenario, sizes, clients, seconds, meter):
    before = meter.snapshot()
    latencies, rate, errors = run(port, token, slug, scenario, sizes, clients, seconds)
    server_cpu, database_cpu = CpuMeter.per_request(before, meter.snapshot(), len(latencies))
    return {"latencies": latencies, "rps": rate, "errors": errors, "cpu": (server_cpu, database_cpu)}


def _summary(slices):
    latencies = [ms for s in slices for ms in s["latencies"]]
    count = len(latencies)
    # Per-request CPU over all slices, weighted by their requests.
    server = sum(s["cpu"][0] * len(s["latencies"]) for s in slices) / count if count else float("nan")
    database = sum(s["cpu"][1] * len(s["latencies"]) for s in slices) / count if count else float("nan")
    return {
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": percentile(latencies, 0.99),
        "rps": statistics.median(s["rps"] for s in slices),
        "errors": sum(len(s["errors"]) for s in slices),
        "server_cpu": server,
        "database_cpu": database,
    }


def measure(label, port, token, slug, sizes, clients, duration, meter, slice_seconds):
    """
    Each scenario runs in slices alternating with slices of the trivial view, and its ratio to
    the trivial view is the median of the slice pairs' ratios. This machine's speed drifts by as
    much as a factor of two within minutes (a VM beside others); a baseline measured once per
    round, minutes away from some of the scenarios, made their ratios swing by ±30%.
    """
    results, trivial_slices = {}, []
    for scenario in (s for s in SCENARIOS if s != "trivial"):
        run(port, token, slug, "trivial", sizes, clients, 1)  # warm caches and connections
        run(port, token, slug, scenario, sizes, clients, min(2, duration))
        slices, ratios, cpu_ratios = [], [], []
        for _ in range(max(1, round(duration / slice_seconds))):
            baseline = _slice(port, token, slug, "trivial", sizes, clients, slice_seconds, meter)
            measured = _slice(port, token, slug, scenario, sizes, clients, slice_seconds, meter)
            trivial_slices.append(baseline)
            slices.append(measured)
            ratios.append(measured["rps"] / baseline["rps"])
            # The same ratio from CPU cost rather than from rates: what a trivial request costs
            # the server over what this scenario's request costs the server and PostgreSQL.
            cpu_ratios.append(baseline["cpu"][0] / sum(measured["cpu"]))
        results[scenario] = {
            **_summary(slices),
            "ratio": statistics.median(ratios),
            "ratio_range": (min(ratios), max(ratios)),
            "cpu_ratio": statistics.median(cpu_ratios),
        }
        errors = [e for s in slices for e in s["errors"]]
        if errors:
            print(f"  {scenario}: {len(errors)} errors, first: {errors[0]}", flush=True)
    trivial = {**_summary(trivial_slices), "ratio": 1.0, "ratio_range": (1, 1), "cpu_ratio": 1.0}
    results = {"trivial": trivial, **results}
    print(f"\n== {label} ({clients} clients, {duration}s per scenario in {slice_seconds}s slices)")
    print(
        f"{'scenario':<20}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}{'vs trivial':>12}{'(slices)':>12}{'errors':>8}"
        f"{'server CPU ms/req':>19}{'PostgreSQL CPU ms/req':>23}{'CPU vs trivial':>16}"
    )
    for scenario, r in results.items():
        low, high = r["ratio_range"]
        print(
            f"{scenario:<20}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['rps']:>8.0f}{r['ratio']:>11.0%}"
            f"{f'{low:.0%}-{high:.0%}':>13}{r['errors']:>8}{r['server_cpu']:>19.3f}{r['database_cpu']:>23.3f}"
            f"{r['cpu_ratio']:>15.0%}"
        )
    return results


def sql_costs(tenant, sizes, samples=200):
    """
    Median planning + execution time (ms, from EXPLAIN ANALYZE) of the store's own SQL per
    scenario: the part of a request that depends on the data size, free of HTTP, Python and
    machine-load noise.
    """
    from django.db import connection, reset_queries

    from sandbox.fhirstore import search, store
    from tenants.context import tenant_scope

    rng = random.Random(7)
    patients = sizes["Patient"]
    calls = {
        "read": lambda: store.read("ExplanationOfBenefit", f"eob-{rng.randrange(sizes['ExplanationOfBenefit'])}"),
        "search-token": lambda: search.search("Patient", f"identifier=M{rng.randrange(patients):08d}"),
        "search-reference": lambda: search.search(
            "ExplanationOfBenefit", f"patient=Patient/pat-{rng.randrange(patients)}"
        ),
        "search-revinclude": lambda: search.search(
            "ExplanationOfBenefit", f"patient=Patient/pat-{rng.randrange(patients)}&_revinclude=Provenance:target"
        ),
    }
    costs = {}
    connection.force_debug_cursor = True
    try:
        for name, call in calls.items():
            totals = []
            for _ in range(samples):
                with tenant_scope(tenant):
                    reset_queries()
                    call()
                    statements = [q["sql"] for q in connection.queries if "fhirstore_" in q["sql"]]
                    total = 0.0
                    with connection.cursor() as cursor:
                        for sql in statements:
                            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                            plan = cursor.fetchone()[0][0]
                            total += plan["Planning Time"] + plan["Execution Time"]
                totals.append(total)
            costs[name] = statistics.median(totals)
    finally:
        connection.force_debug_cursor = False
    return costs


def selected_scenarios(only):
    """The scenarios `--only` names (comma-separated), with the trivial view always; all when empty."""
    if not only:
        return SCENARIOS
    wanted = set(only.split(","))
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return tuple(s for s in SCENARIOS if s == "trivial" or s in wanted)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario (and as many of trivial)")
    parser.add_argument("--slice", type=float, default=1, help="seconds of each alternating slice")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--only", default="", help="comma-separated scenarios to run besides trivial")
    args = parser.parse_args()
    global SCENARIOS
    SCENARIOS = selected_scenarios(args.only)

    (tenant_a, token_a, large), (tenant_b, token_b, small) = prepared_tenants(args.small, args.large)
    report = {}
    server = start_server(args.port, args.workers, args.threads)
    meter = CpuMeter(server)
    try:
        report["small"] = measure(
            f"bench-b with {args.small:,} resources (bench-a beside it)",
            args.port,
            token_b,
            "bench-b",
            small,
            args.clients,
            args.duration,
            meter,
            args.slice,
        )
        report["large"] = measure(
            f"bench-a with {args.large:,} resources (bench-b beside it)",
            args.port,
            token_a,
            "bench-a",
            large,
            args.clients,
            args.duration,
            meter,
            args.slice,
        )
    finally:
        server.terminate()
        server.wait()
    small_sql = sql_costs(tenant_b, small)
    large_sql = sql_costs(tenant_a, large)
    print("\nlatency growth, large vs small (HTTP p50, and the store's SQL alone: plan + execute median):")
    for scenario in (s for s in SCENARIOS if s not in ("trivial", "tenant-404")):
        ratio = report["large"][scenario]["p50"] / report["small"][scenario]["p50"]
        print(
            f"  {scenario:<20}HTTP {ratio:>5.2f}x   SQL {small_sql[scenario]:.3f} ms -> {large_sql[scenario]:.3f} ms"
            f" ({large_sql[scenario] / small_sql[scenario]:.2f}x)"
        )


if __name__ == "__main__":
    main()
