"""
A small process supervisor for `runsandbox`: starts the web, TLS and worker processes,
prefixes their output, stops all of them on Ctrl-C, and stops the rest (exiting non-zero,
saying which one and why) as soon as one dies.
"""

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Child:
    name: str
    argv: list
    env: dict = field(default_factory=dict)
    ready_port: tuple = None  # (host, port) that accepts connections once the child is up
    process: subprocess.Popen = None
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=15))


class ChildDied(Exception):
    def __init__(self, child, returncode):
        self.child = child
        self.returncode = returncode
        super().__init__(describe_death(child, returncode))


def describe_death(child, returncode):
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"exited with code {returncode}"
    lines = "\n".join(f"    {line}" for line in child.tail) or "    (no output)"
    return f"The {child.name} process {how}. Its last output:\n{lines}"


class Supervisor:
    def __init__(self, children, out=None, stop_timeout=10.0):
        self.children = children
        self.out = out or sys.stdout
        self.stop_timeout = stop_timeout
        self._stop = threading.Event()
        self._print_lock = threading.Lock()
        self._pumps = []

    def say(self, line):
        with self._print_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def start(self):
        for child in self.children:
            env = {**os.environ, "PYTHONUNBUFFERED": "1", **child.env}
            # A session of its own: Ctrl-C reaches only the supervisor, which then stops the
            # children in order instead of letting each die on its own.
            child.process = subprocess.Popen(
                child.argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            pump = threading.Thread(target=self._pump, args=(child,), daemon=True, name=f"pump-{child.name}")
            pump.start()
            self._pumps.append(pump)

    def _pump(self, child):
        width = max(len(c.name) for c in self.children)
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            child.tail.append(line)
            self.say(f"{child.name:<{width}} | {line}")

    def dead_child(self):
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def wait_until_ready(self, timeout=60.0):
        """Wait for every child's port to accept connections; raise ChildDied if one dies first."""
        deadline = time.monotonic() + timeout
        pending = [c for c in self.children if c.ready_port]
        while pending and time.monotonic() < deadline and not self._stop.is_set():
            dead = self.dead_child()
            if dead:
                self._drain(dead)
                raise ChildDied(dead, dead.process.returncode)
            for child in list(pending):
                try:
                    with socket.create_connection(child.ready_port, timeout=0.5):
                        pending.remove(child)
                except OSError:
                    pass
            time.sleep(0.2)
        if pending and not self._stop.is_set():
            names = ", ".join(c.name for c in pending)
            raise TimeoutError(f"Not listening after {timeout:.0f}s: {names}")

    def request_stop(self, *_):
        self._stop.set()

    def install_signal_handlers(self):
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def watch(self):
        """Block until asked to stop (returns None) or until a child dies (returns it)."""
        while not self._stop.is_set():
            dead = self.dead_child()
            if dead:
                self._drain(dead)
                return dead
            self._stop.wait(0.2)
        return None

    def _drain(self, child):
        # Let the pump read the last lines the child wrote before it died.
        for pump in self._pumps:
            if pump.name == f"pump-{child.name}":
                pump.join(timeout=2)

    def stop(self):
        """SIGTERM every child that still runs, then SIGKILL whatever outlives stop_timeout."""
        alive = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in alive:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in alive:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"The {child.name} process did not stop in {self.stop_timeout:.0f}s; killing it.")
                self._signal(child, signal.SIGKILL)
                child.process.wait()

    @staticmethod
    def _signal(child, signum):
        try:
            os.killpg(child.process.pid, signum)
        except ProcessLookupError:
            pass

    def run(self, on_ready=None):
        """Start, wait for readiness, supervise; returns the process exit code."""
        self.install_signal_handlers()
        self.start()
        try:
            self.wait_until_ready()
            if on_ready and not self._stop.is_set():
                on_ready()
            dead = self.watch()
        except ChildDied as exc:
            dead = exc.child
        except TimeoutError as exc:
            self.say(f"runsandbox: {exc}; stopping.")
            self.stop()
            return 1
        finally:
            if self._stop.is_set():
                self.say("runsandbox: stopping web, tls and worker…")
        if dead is not None:
            self.say("runsandbox: " + describe_death(dead, dead.process.returncode))
            self.say("runsandbox: stopping the other processes.")
            self.stop()
            return 1
        self.stop()
        self.say("runsandbox: all processes stopped.")
        return 0
