"""What the HTTP benchmarks share: a gunicorn to measure, concurrent keep-alive clients, percentiles."""

import http.client
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_gunicorn(app, port, *, workers, threads, ready_path, log_level="ERROR"):
    """gunicorn (gthread) on 127.0.0.1:port serving `app`; returns once `ready_path` answers 200."""
    # An in-memory broker: tasks the measured requests queue (a Consent to store, ...) must not
    # pile up in var/broker for the next `make run` worker, which uses another database.
    env = {
        **os.environ,
        "DEBUG": "false",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": log_level,
        "CELERY_BROKER_URL": "memory://",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--keep-alive",
        "30",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(100):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", ready_path)
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def drive(port, clients, duration, make_request, check):
    """
    `clients` keep-alive connections sending requests for `duration` seconds.

    make_request(rng) -> (method, url, body or None, headers); check(status, url, body) ->
    an error string or None. Returns (latencies in ms, requests/s, errors).
    """
    latencies, errors = [], []
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def client(seed):
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            method, url, body, headers = make_request(rng)
            started = time.perf_counter()
            try:
                connection.request(method, url, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append((time.perf_counter() - started) * 1000)
            problem = check(response.status, url, payload)
            if problem:
                errors.append(problem)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - started), errors


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def process_cpu_seconds(pid):
    """User + system CPU of one process (Linux /proc), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid):
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        children.append(int(entry))
            except OSError:
                continue
    return children


class CpuMeter:
    """
    CPU time the measured server and its PostgreSQL backends spend, per request.

    Requests/s on a 2-core machine that also runs the clients swings by about ±30% between runs.
    The CPU a request costs the server and the database leaves out the time spent waiting for
    a core, so it varies less and shows better what a change saved; compare it within one
    run or between runs close in time. `server` is gunicorn's master and workers; the database
    side is every backend connected to the measured database, other than the benchmark's own.
    """

    def __init__(self, server_process):
        self.server_pids = [server_process.pid, *_children(server_process.pid)]

    def _database_pids(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [pid for (pid,) in cursor.fetchall()]

    def snapshot(self):
        database_pids = self._database_pids()
        return (
            sum(process_cpu_seconds(pid) for pid in self.server_pids),
            {pid: process_cpu_seconds(pid) for pid in database_pids},
        )

    @staticmethod
    def per_request(before, after, requests):
        """(server ms, database ms) of CPU per request between two snapshots."""
        if not requests:
            return float("nan"), float("nan")
        server = after[0] - before[0]
        # Backends opened during the run count from zero.
        database = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
        return server * 1000 / requests, database * 1000 / requests
