"""A plain-text progress bar for privacy_kit's long-running commands."""

from __future__ import annotations

from django.core.management.base import OutputWrapper

WIDTH = 30


class ProgressBar:
    """Draw ``label [#####     ] done/total`` on one line of a terminal, or a line per step elsewhere."""

    def __init__(self, stdout: OutputWrapper) -> None:
        self.stdout = stdout
        self.interactive = stdout.isatty()
        self.label: str | None = None

    def __call__(self, label: str, done: int, total: int) -> None:
        total = max(total, done, 1)
        filled = WIDTH * done // total
        line = f"{label} [{'#' * filled}{' ' * (WIDTH - filled)}] {done}/{total}"
        if self.interactive:
            self.stdout.write("\r" + line, ending="")
            if done >= total:
                self.stdout.write("")
        else:
            self.stdout.write(line)
        self.stdout.flush()
