"""A real gunicorn TLS listener (sandbox.trust.gunicorn_tls) plus a controller, for tests."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from sandbox.trust.tls_server import LISTENER_CA, ensure_server_certificate

ROOT = Path(__file__).resolve().parents[2]
SECRET = "listener-test-secret-" + uuid.uuid4().hex


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"listener exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


class ListenerDatabase:
    """A database of its own for the listener: an SQLite file, or a fresh PostgreSQL database
    when the test run is on PostgreSQL (same server and role)."""

    def __init__(self, tmp):
        base = os.environ.get("DATABASE_URL", "")
        self.postgres = base.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            self.name = f"sandbox_listener_{uuid.uuid4().hex[:10]}"
            parts = urlsplit(base)
            self.admin_url = base
            self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
            self._admin(f'CREATE DATABASE "{self.name}"')
        else:
            self.url = f"sqlite:///{tmp / 'listener.sqlite3'}"

    def _admin(self, statement):
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def drop(self):
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Listener:
    """gunicorn with TLS on a free port, `--cert-reqs 1`, trust bundle from the data directory."""

    def __init__(self, extra_env=None, tls=True):
        self.tmp = Path(tempfile.mkdtemp(prefix="trust-listener-"))
        self.data_dir = self.tmp / "data"
        self.tls_dir = self.data_dir / "tls"
        self.database = ListenerDatabase(self.tmp)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "CELERY_", "SANDBOX_", "DJANGO_", "MTLS_"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="sandbox.settings",
            DATABASE_URL=self.database.url,
            SANDBOX_DATA_DIR=str(self.data_dir),
            SECRET_KEY=SECRET,
            CELERY_TASK_ALWAYS_EAGER="true",
            PYTHONUNBUFFERED="1",
            **(extra_env or {}),
        )
        self.port = free_port()
        self.tls = tls
        self.processes = []
        self.log = self.tmp / "gunicorn.log"

    def start(self):
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=300,
        )
        subprocess.run(
            [sys.executable, "manage.py", "createcachetable"], cwd=ROOT, env=self.env, check=True, timeout=60
        )
        self.controller = subprocess.Popen(
            [sys.executable, "-m", "tests.trust.controller"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.processes.append(self.controller)
        assert json.loads(self.controller.stdout.readline())["ready"]
        self.call("publish")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "sandbox.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--no-control-socket",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--workers",
            "1",
            "--keep-alive",
            "30",
            "--log-file",
            str(self.log),
        ]
        if self.tls:
            cert, key, self.ca_file = ensure_server_certificate(self.tls_dir)
            command += [
                "--config",
                "python:sandbox.trust.gunicorn_tls",
                "--certfile",
                str(cert),
                "--keyfile",
                str(key),
                "--cert-reqs",
                "1",
            ]
        self.server = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self.processes.append(self.server)
        _wait_for_port(self.port, self.server)
        return self

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.database.drop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def call(self, op, *args):
        self.controller.stdin.write(json.dumps({"op": op, "args": list(args)}) + "\n")
        self.controller.stdin.flush()
        answer = json.loads(self.controller.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError(answer["error"])
        return answer["result"]

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}"

    def ssl_context(self, credentials=None):
        context = ssl.create_default_context(cafile=str(self.tls_dir / LISTENER_CA))
        if credentials:
            folder = Path(tempfile.mkdtemp(dir=self.tmp))
            (folder / "cert.pem").write_text(credentials["cert"])
            (folder / "key.pem").write_text(credentials["key"])
            context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        return context

    def client(self, credentials=None, **kwargs):
        verify = self.ssl_context(credentials) if self.tls else True
        return httpx.Client(base_url=self.url, verify=verify, timeout=10, **kwargs)


def whoami(listener, credentials=None, client=None, **headers):
    """GET /directory/mtls/ -> (status, body); ("handshake", error) when TLS refused the certificate."""
    try:
        if client is not None:
            response = client.get("/directory/mtls/", headers=headers)
        else:
            with listener.client(credentials) as fresh:
                response = fresh.get("/directory/mtls/", headers=headers)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError) as exc:
        return "handshake", str(exc)
    return response.status_code, response.json()
