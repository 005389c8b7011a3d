"""JSON Lines files (labels, seed texts), local or any fsspec URL: one reader, so a bad line reads the same error
everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


def rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-empty line; ValueError naming the line that is not JSON."""
    import json

    import fsspec

    with fsspec.open(str(path), "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
