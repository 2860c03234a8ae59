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
