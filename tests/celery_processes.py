"""Processes that tests start and stop themselves: a Redis server of their own and Celery workers.

A test that needs a real worker starts a Redis server on a free port (no other test
run on the machine's Redis sees its messages) and workers of ``tests.celery_app``,
each with ``--pidfile`` in a process group of its own, stopped by that pid and group only.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


class RedisServer:
    """A redis-server on a free port, without persistence, that a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
        )
        if not wait_until(lambda: self.cli("ping") == "PONG", timeout=10):
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    def shutdown(self) -> None:
        """Stop the server as ``redis-cli shutdown nosave`` does: every message in it is lost."""
        if self.process is not None and self.process.poll() is None:
            self.cli("shutdown", "nosave")
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Worker:
    """``celery worker --pool=solo`` (or another pool) of tests.celery_app, in its own process group."""

    def __init__(self, name: str, directory: Path, env: dict[str, str], pool: str, concurrency: int) -> None:
        self.name = name
        self.pidfile = directory / f"{name}.pid"
        self.logfile = directory / f"{name}.log"
        self.pidfile.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
            f"--pool={pool}", f"--concurrency={concurrency}", "-Q", env["PRIVACY_KIT_TEST_QUEUE"],
            "-n", f"{name}@%h", "-I", "tests.testapp.privacy", "--prefetch-multiplier=1", "-O", "fair",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--pidfile={self.pidfile}", f"--logfile={self.logfile}", "--loglevel=INFO",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self) -> None:
        if not wait_until(lambda: self.process.poll() is not None or " ready." in self.log(), timeout=30):
            raise RuntimeError(f"worker {self.name} did not start:\n{self.log()}")
        if self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()}")
        self.pid = int(self.pidfile.read_text())

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def succeeded(self, task: str) -> list[str]:
        """Return the result of each run of ``task`` that this worker logged as succeeded."""
        return re.findall(rf"Task {re.escape(task)}\[[^]]+\] succeeded in [^:]+: (.*)", self.log())

    def kill(self) -> None:
        """SIGKILL the worker, found by its pidfile: no warm shutdown, no acknowledgement, no restore."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the worker and any child of its pool, all in the process group it was started in."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
