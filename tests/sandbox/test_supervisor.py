import io
import sys
import threading

from sandbox.supervisor import Child, Supervisor

PY = sys.executable


def _child(name, code, **kwargs):
    return Child(name, [PY, "-c", code], **kwargs)


def test_it_stops_the_others_and_says_which_child_died_and_why():
    out = io.StringIO()
    sleeper = _child("web", "import time; print('serving', flush=True); time.sleep(60)")
    crasher = _child(
        "worker", "import sys, time; time.sleep(0.5); print('cannot reach the broker', flush=True); sys.exit(3)"
    )
    code = Supervisor([sleeper, crasher], out=out, stop_timeout=5).run()
    text = out.getvalue()
    assert code == 1
    assert "The worker process exited with code 3" in text
    assert "cannot reach the broker" in text
    assert sleeper.process.poll() is not None  # the survivor was stopped too


def test_it_reports_a_child_killed_by_a_signal():
    out = io.StringIO()
    victim = _child("tls", "import os, signal, time; time.sleep(0.3); os.kill(os.getpid(), signal.SIGKILL)")
    assert Supervisor([victim], out=out, stop_timeout=5).run() == 1
    assert "was killed by SIGKILL" in out.getvalue()


def test_it_stops_every_child_when_asked_and_exits_zero():
    out = io.StringIO()
    children = [_child(n, "import time; time.sleep(60)") for n in ("web", "tls", "worker")]
    supervisor = Supervisor(children, out=out, stop_timeout=5)
    supervisor.install_signal_handlers = lambda: None  # signals belong to the test runner
    threading.Timer(0.5, supervisor.request_stop).start()
    assert supervisor.run() == 0
    assert all(c.process.returncode is not None for c in children)
    assert "all processes stopped" in out.getvalue()


def test_it_kills_a_child_that_ignores_sigterm():
    out = io.StringIO()
    stubborn = _child(
        "worker",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
    )
    supervisor = Supervisor([stubborn], out=out, stop_timeout=1)
    supervisor.install_signal_handlers = lambda: None
    threading.Timer(0.5, supervisor.request_stop).start()
    assert supervisor.run() == 0
    assert stubborn.process.returncode == -9
    assert "did not stop in 1s; killing it" in out.getvalue()
