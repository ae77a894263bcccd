"""privacy_kit's long commands as ops meet them: killed mid-run, over columns switched from another library."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.db import connection

from tests.settings import BASE_DIR


def kill_after_progress(*command: str, label: str, lines: int = 5, **environ: str) -> None:
    """Run ``python -m django <command>`` on the test database and SIGKILL it after ``lines`` progress lines."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PRIVACY_KIT_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        **environ,
    }
    worker = subprocess.Popen(
        [sys.executable, "-u", "-m", "django", *command], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    seen = 0
    for line in worker.stdout:
        seen += line.startswith(f"{label} [")
        if seen == lines:
            worker.send_signal(signal.SIGKILL)
            break
    worker.wait(timeout=60)
    worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL


def switched_column(raw: bytes) -> bytes | str:
    """A binary value as its column holds it once switched to text: the BLOB on SQLite, ``\\x`` hex on PostgreSQL."""
    return raw if connection.vendor == "sqlite" else "\\x" + raw.hex()
