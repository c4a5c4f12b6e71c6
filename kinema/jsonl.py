"""JSON-lines files, read and appended the way every Kinema manifest and log is: light (no torch),
so that dataset writers and importers start fast."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator


def read_jsonl(path: str | os.PathLike, fix: str) -> Iterator[tuple[int, object]]:
    """(line number, value) of every non-blank line; a line that is not JSON is a ValueError
    naming the file, the line and `fix`."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{Path(path)} line {lineno}: not valid JSON ({e}); {fix}") from None


def jsonl_line(rec: dict) -> str:
    return json.dumps(rec, separators=(",", ":")) + "\n"


def append_jsonl(path: str | os.PathLike, rec: dict) -> None:
    """Append one record as one write of one whole line, flushed to disk: a crash leaves whole lines."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(jsonl_line(rec))
        f.flush()
        os.fsync(f.fileno())
