"""
Seeding speed: members/s and resources/s writing a synthetic payer into the store (validation of
the usual sample, search index and history included), on SQLite and PostgreSQL, and peak memory as the member
count grows. Prints figures; asserts nothing about time.

Run:
  .venv/bin/python bench/seed.py                       # SQLite, 1,000 and 10,000 members
  .venv/bin/python bench/seed.py --members 1000 --postgres postgres://sandbox@127.0.0.1:5432/seedbench
  .venv/bin/python bench/seed.py --validate-all ...    # every resource validated with fhir.resources
  .venv/bin/python bench/seed.py --no-validate ...     # without fhir.resources validation, for comparison

Each (database, size) runs in a fresh process on a fresh database, so peak RSS is that run's own.
Targets (issue 4): 1,000 members in under 30 s on PostgreSQL, 10,000 in under 5 minutes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb(who="self"):
    import resource

    # RUSAGE_CHILDREN: the largest finished child, i.e. the seeding worker process.
    which = resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN
    return resource.getrusage(which).ru_maxrss / 1024


def run_one(members, seed, validate):
    """Seed one payer in this process (DATABASE_URL already points at an empty database)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from sandbox.seeding import populate
    from tenants.models import Tenant

    tenant = Tenant.objects.create(slug="bench", name="Bench Health", status=Tenant.Status.READY)
    samples = []
    started = time.perf_counter()

    def report(fraction, message):
        sample = (round(fraction, 2), round(time.perf_counter() - started, 2), round(_rss_mb(), 1))
        samples.append(sample)
        # Long runs show where they are (stderr goes straight to the terminal).
        print(f"  {message}: {sample[1]} s, RSS {sample[2]} MB", file=sys.stderr, flush=True)

    counts = populate.seed_tenant(tenant, members=members, seed=seed, report=report, validate=validate)
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    # RSS at about 10%, 50% and 100% of the members: flat memory means these stay close.
    marks = {}
    for fraction, _t, rss in samples:
        for mark in (0.1, 0.5, 1.0):
            if fraction >= mark and mark not in marks:
                marks[mark] = rss
    return {
        "database": connection.vendor,
        "members": members,
        "resources": total,
        "seconds": round(elapsed, 1),
        "members_per_s": round(members / elapsed, 1),
        "resources_per_s": round(total / elapsed),
        "rss_mb_at": {f"{int(k * 100)}%": v for k, v in sorted(marks.items())},
        "peak_rss_mb": round(_peak_mb(), 1),
        "worker_peak_rss_mb": round(_peak_mb("children"), 1),
        "validate": validate,
    }


def _fresh_postgres(url, name):
    import psycopg

    base, _, _db = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def _drop_postgres(url):
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL; its database name is replaced")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite (the default without --postgres)")
    parser.add_argument("--validate-all", dest="validate", action="store_const", const="all", default="sample")
    parser.add_argument("--no-validate", dest="validate", action="store_const", const="none")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(run_one(args.members[0], args.seed, args.validate)))
        return

    databases = []
    if args.sqlite or not args.postgres:
        databases.append("sqlite")
    if args.postgres:
        databases.append("postgres")
    for database in databases:
        for members in args.members:
            with tempfile.TemporaryDirectory(prefix="seed-bench-") as data_dir:
                env = {**os.environ, "SANDBOX_DATA_DIR": data_dir, "CELERY_TASK_ALWAYS_EAGER": "true"}
                if database == "sqlite":
                    env["DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"
                else:
                    env["DATABASE_URL"] = _fresh_postgres(args.postgres, f"seedbench_{os.getpid()}")
                command = [sys.executable, __file__, "--child", "--members", str(members), "--seed", str(args.seed)]
                if args.validate != "sample":
                    command.append("--validate-all" if args.validate == "all" else "--no-validate")
                try:
                    out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
                except subprocess.CalledProcessError:
                    print(f"{database} {members}: failed (see above)", file=sys.stderr)
                    continue
                finally:
                    if database == "postgres":
                        _drop_postgres(env["DATABASE_URL"])
                result = json.loads(out.strip().splitlines()[-1])
                print(
                    f"{database:<10} {result['members']:>6} members {result['resources']:>8} resources "
                    f"{result['seconds']:>7.1f} s {result['members_per_s']:>7.1f} members/s "
                    f"{result['resources_per_s']:>6} resources/s  RSS {result['rss_mb_at']}  "
                    f"peak {result['peak_rss_mb']} MB, worker {result['worker_peak_rss_mb']} MB  "
                    f"(validation: {result['validate']})",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
