"""
The FHIR API's requests measured inside one process, without HTTP: CPU and wall time per
request of each bench/fhir_api.py scenario, against the trivial view in the same rounds.

    DATABASE_URL=postgres://sandbox@127.0.0.1:5432/bench .venv/bin/python bench/fhir_inprocess.py

It runs on the data bench/fhir_api.py loads (and loads it when missing, the same way), calls the
project's WSGI application directly with one client, and alternates the scenarios in short rounds
(`--rounds`, `--requests` each), printing medians over the rounds, with the CPU the process's
PostgreSQL backend spent (read from /proc: the database must run on this machine; to 10 ms a
round, so more requests a round make it finer). On a shared VM whose speed
drifts by a factor of two within minutes, this is the measure that tells a change of a few
percent apart: run it before and after, or compare two code paths in one process by switching
between them inside the rounds. Over HTTP, gunicorn roughly doubles what our code costs here,
so the ratio printed is not the HTTP one; it shows where a request's own CPU goes.
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# As the HTTP benchmark's gunicorn runs (bench.harness): no query log, kept connections.
os.environ.update({"DEBUG": "false", "CONN_MAX_AGE": "600", "LOG_LEVEL": "ERROR", "CELERY_BROKER_URL": "memory://"})

from bench import fhir_api  # noqa: E402  (sets Django up, with the trivial view)
from bench.harness import process_cpu_seconds  # noqa: E402


def environ(path, token):
    path_info, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8099",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost:8099",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "application/fhir+json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
    }


def request(path, token, expected):
    statuses = []
    body = b"".join(fhir_api.application(environ(path, token), lambda status, headers: statuses.append(status)))
    if int(statuses[0].split()[0]) != expected:
        raise SystemExit(f"{path}: {statuses[0]} {body[:300]!r}")


def measure(scenarios, slug, token, sizes, rounds, requests):
    from django.db import connection

    rng = random.Random(7)
    samples = {scenario: [] for scenario in scenarios}
    for scenario in scenarios:  # warm: prepared statements, the payer seen, caches
        for _ in range(50):
            request(fhir_api.paths(scenario, slug, sizes, rng), token, fhir_api.EXPECTED_STATUS.get(scenario, 200))
    backend = connection.connection.info.backend_pid
    for _ in range(rounds):
        for scenario in scenarios:
            expected = fhir_api.EXPECTED_STATUS.get(scenario, 200)
            paths = [fhir_api.paths(scenario, slug, sizes, rng) for _ in range(requests)]
            cpu, wall, database = time.process_time(), time.perf_counter(), process_cpu_seconds(backend)
            for path in paths:
                request(path, token, expected)
            samples[scenario].append(
                (
                    (time.process_time() - cpu) / requests * 1000,
                    (time.perf_counter() - wall) / requests * 1000,
                    (process_cpu_seconds(backend) - database) / requests * 1000,
                )
            )
    return {
        scenario: tuple(statistics.median(sample[i] for sample in rows) for i in range(3))
        for scenario, rows in samples.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200, help="requests of each scenario in a round")
    parser.add_argument("--only", default="", help="comma-separated scenarios to run besides trivial")
    args = parser.parse_args()
    scenarios = fhir_api.selected_scenarios(args.only)

    from django.db import connection

    (_tenant_a, token_a, large), (_tenant_b, token_b, small) = fhir_api.prepared_tenants(args.small, args.large)
    connection.close()
    for label, slug, token, sizes in (
        (f"bench-b, {args.small:,} resources", "bench-b", token_b, small),
        (f"bench-a, {args.large:,} resources", "bench-a", token_a, large),
    ):
        results = measure(scenarios, slug, token, sizes, args.rounds, args.requests)
        print(f"\n== {label} (one client, in process; medians of {args.rounds} rounds of {args.requests})")
        print(f"{'scenario':<20}{'CPU ms/req':>12}{'wall ms/req':>13}{'CPU vs trivial':>16}{'PostgreSQL CPU':>16}")
        trivial_cpu = results["trivial"][0]
        for scenario, (cpu, wall, database) in results.items():
            print(f"{scenario:<20}{cpu:>12.3f}{wall:>13.3f}{trivial_cpu / cpu:>15.0%}{database:>16.3f}")


if __name__ == "__main__":
    main()
