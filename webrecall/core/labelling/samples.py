"""Page text as the annotator reads it: prose lines and code blocks, code kept verbatim, every cut marked.

The page cache keeps a page's `<pre>` blocks between ``` fence lines (`text.extract.FENCE`). Annotators judge code
by its shape, so a code block keeps its indentation and blank lines; the fences themselves are not shown. Every
page text the Label and Review pages show passes through `fenced` first (the one place to filter what annotators
see).
"""

from __future__ import annotations

import re
from typing import Any

from webrecall.core.text.extract import FENCE
from webrecall.core.text.redact import redact

ELLIPSIS = "…"

_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import|#include|\$ |>>> |function |const |let |var |return\b|public |"
    r"private |SELECT |INSERT |CREATE |pip install|npm |git |sudo |for \(|if \(|<\w+[ >])|[;{}]\s*$|\w\(.*\)\s*$"
    r"|^\s*(with|for|while|if|elif|try|except)\b.*:\s*$"
)


def code_like(line: str) -> bool:
    """A line that looks like source code or a shell command (highlighted in prose)."""
    symbols = sum(c in "{}()[];=<>$_" for c in line)
    return bool(_CODE_LINE.search(line)) or (len(line) > 8 and symbols / len(line) > 0.12)


def fenced(text: str) -> list[tuple[bool, list[str]]]:
    """The page's text as (is code, lines) blocks in order: code blocks verbatim (blank lines inside kept, the
    fences dropped), prose as its lines; secrets and personal data shown as their placeholders, as the export
    writes them (nobody copies a live key out of the UI)."""
    blocks: list[tuple[bool, list[str]]] = []
    code, lines = False, list[str]()
    for line in redact(text or "")[0].splitlines():
        if line.strip() == FENCE:
            blocks.append((code, lines))
            code, lines = not code, []
        else:
            lines.append(line)
    blocks.append((code, lines))
    out = []
    for is_code, body in blocks:
        if is_code:
            while body and not body[0].strip():
                body = body[1:]
            while body and not body[-1].strip():
                body = body[:-1]
        else:
            body = [ln.strip() for ln in body if ln.strip()]
        if body:
            out.append((is_code, body))
    return out


def sample_blocks(text: str, *, max_lines: int = 12, width: int = 160) -> list[dict[str, Any]]:
    """The first `max_lines` lines of a page as blocks `{"code", "lines": [{"text", "cut", "code_like"}],
    "more"}`: a line longer than `width` is cut and ends in an ellipsis (`cut`); `more` counts the lines of the block
    left out, and the last block shown also counts what follows it (0: the text ends there)."""
    out: list[dict[str, Any]] = []
    budget = max_lines
    blocks = fenced(text)
    for n, (is_code, lines) in enumerate(blocks):
        if budget <= 0:
            out[-1]["more"] += sum(len(b) for _, b in blocks[n:])
            break
        shown = lines[:budget]
        budget -= len(shown)
        rows = []
        for line in shown:
            body = line.rstrip() if is_code else line
            cut = len(body) > width
            body = body[: width - 1] + ELLIPSIS if cut else body
            rows.append({"text": body, "cut": cut, "code_like": is_code or code_like(body)})
        out.append({"code": is_code, "lines": rows, "more": len(lines) - len(shown)})
    return out


def first_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """The sample's lines as plain text (in order, fences and markers left out)."""
    return [row["text"] for block in blocks for row in block["lines"]]
