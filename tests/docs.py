"""Code blocks of the Markdown docs, for the tests that run them as a user would."""

from __future__ import annotations

import re
from pathlib import Path


def fenced_blocks(path: Path, heading: str) -> list[str]:
    """Return the fenced code blocks of one ``## heading`` section of a Markdown file."""
    text = path.read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S)


def block_for(blocks: list[str], first_line: str) -> str:
    """Return the block whose first line is ``first_line`` (a comment naming the file)."""
    matches = [block for block in blocks if block.splitlines()[0].startswith(first_line)]
    assert len(matches) == 1, f"expected one block starting with {first_line!r}"
    return matches[0]
