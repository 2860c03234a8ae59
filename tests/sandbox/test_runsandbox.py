"""`manage.py runsandbox` as a user runs it: real processes, real ports, Ctrl-C."""

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    def __init__(self, tmp_path, port, tls_port):
        self.port, self.tls_port = port, tls_port
        self.data_dir = tmp_path / "data"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "SANDBOX_", "DJANGO_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="sandbox.settings",
            SANDBOX_DATA_DIR=str(self.data_dir),
            SANDBOX_DEMO_PASSWORD="demo-password-for-tests",
            # Small demo payers: this test is about the processes, not the seed.
            SANDBOX_DEFAULT_MEMBERS="10",
            PYTHONUNBUFFERED="1",
        )
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runsandbox", "--port", str(port), "--tls-port", str(tls_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    @property
    def output(self):
        return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.output):
                return True
            if self.process.poll() is not None:
                self._reader.join(timeout=2)
                return bool(re.search(pattern, self.output))
            time.sleep(0.2)
        return False

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=2)


@pytest.fixture
def sandbox(tmp_path):
    box = Sandbox(tmp_path, _free_port(), _free_port())
    yield box
    box.stop()


def _poll(url, expect=200, timeout=60, **kwargs):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=5, **kwargs)
            if last.status_code == expect:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer {expect}: {last!r}")


def test_it_starts_web_tls_and_worker_and_stops_them_on_ctrl_c(sandbox):
    assert sandbox.wait_for("The sandbox is running"), sandbox.output
    base = f"http://127.0.0.1:{sandbox.port}"

    assert "Simulated payers for your connectathon" in _poll(base + "/").text
    # The demo payers are created by the worker process; they answer once it has run.
    home = _poll(f"{base}/t/acme-health/").json()
    assert home["fhir_base_url"] == f"{base}/t/acme-health/fhir"
    _poll(f"{base}/t/bluebird-health/")

    ca = sandbox.data_dir / "tls" / "listener-ca.pem"
    tls = _poll(
        f"https://localhost:{sandbox.tls_port}/t/acme-health/", verify=ssl.create_default_context(cafile=str(ca))
    )
    assert tls.json()["slug"] == "acme-health"

    with httpx.Client(base_url=base, follow_redirects=True) as browser:
        browser.get("/accounts/login/")
        page = browser.post(
            "/accounts/login/",
            data={
                "username": "demo",
                "password": "demo-password-for-tests",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": base + "/accounts/login/"},
        )
        assert "Acme Health Plan" in page.text and "Bluebird Health" in page.text

    sandbox.process.send_signal(signal.SIGINT)
    assert sandbox.process.wait(timeout=30) == 0, sandbox.output
    sandbox._reader.join(timeout=2)
    assert "all processes stopped" in sandbox.output
    for port in (sandbox.port, sandbox.tls_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_it_exits_non_zero_naming_the_child_that_died(tmp_path):
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    box = Sandbox(tmp_path, _free_port(), busy.getsockname()[1])
    try:
        code = box.process.wait(timeout=90)
        box._reader.join(timeout=2)
    finally:
        busy.close()
        box.stop()
    assert code != 0
    assert re.search(r"The tls process exited with code \d+", box.output), box.output
    assert "stopping the other processes" in box.output
