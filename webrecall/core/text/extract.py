"""Main-text extraction, chosen by name from a registry.

`resiliparse` (the default) is the text the index pass caches and the kept text: main content with formatting
preserved and every `<pre>` block fenced with ``` on lines of their own, its indentation intact (`unfence`
removes the fences). It keeps code blocks verbatim where trafilatura drops or re-flows about a fifth of them
(bench/run.py measures both), at a tenth of the cost. `trafilatura` stays available for rounds that ask for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resiliparse.parse.html import HTMLTree

Extractor = Callable[[str], str]
FENCE = "```"
_OPEN, _CLOSE = "\x02", "\x03"  # STX/ETX placed in the DOM, replaced after extraction (private-use chars are dropped)
_OPEN_RE = re.compile(rf"[ \t]*{_OPEN}\n?")
_CLOSE_RE = re.compile(rf"\s*{_CLOSE}[ \t]*\n?")
_EMPTY_FENCE = re.compile(rf"^{FENCE}\n{FENCE}\n?", re.MULTILINE)
_BLANKS_BEFORE_FENCE = re.compile(rf"\n{{3,}}(?={FENCE}\n)")
_FENCE_LINE = re.compile(rf"^{FENCE}\n?", re.MULTILINE)
_PRE_TAG = re.compile("<pre", re.IGNORECASE)


def parse(html: str) -> HTMLTree:
    """The page parsed once; the index pass hands this tree to every per-page computation."""
    from resiliparse.parse.html import HTMLTree

    return HTMLTree.parse(html)


def fence_code_blocks(tree: HTMLTree) -> int:
    """Mark every outermost `<pre>` in place so its text comes out fenced; returns how many were marked.

    Mutates the tree: read anything else from it (e.g. `webrecall.core.text.fidelity.code_blocks`) before this."""
    body = tree.body
    if body is None:
        return 0
    marked = 0
    for pre in body.query_selector_all("pre"):
        parent, nested = pre.parent, False
        while parent is not None and parent.tag != "body":
            if parent.tag == "pre":
                nested = True
                break
            parent = parent.parent
        first, opening, closing = pre.first_child, tree.create_text_node(_OPEN), tree.create_text_node(_CLOSE)
        if nested or first is None or opening is None or closing is None:
            continue
        pre.insert_before(opening, first)
        pre.append_child(closing)
        marked += 1
    return marked


def tree_text(tree: HTMLTree, *, fences: bool = True) -> str:
    """Resiliparse main content of a parsed page, formatting preserved; `<pre>` blocks fenced unless not asked."""
    from resiliparse.extract.html2text import extract_plain_text

    if fences:
        fence_code_blocks(tree)
    text = extract_plain_text(tree, main_content=True, preserve_formatting=True, noscript=False)
    if fences:
        text = _CLOSE_RE.sub(f"\n{FENCE}\n", _OPEN_RE.sub(f"\n{FENCE}\n", text))
        text = _EMPTY_FENCE.sub("", _BLANKS_BEFORE_FENCE.sub("\n\n", text))
    return text.replace(_OPEN, "").replace(_CLOSE, "").strip()


def unfence(text: str) -> str:
    """The text without the fence lines `tree_text` adds (a page's own line that is exactly ``` goes too)."""
    return _FENCE_LINE.sub("", text).strip() if FENCE in text else text


def has_pre(html: str) -> bool:
    """Cheap pre-check: fencing and counting code blocks cost ~1 ms a page, and most pages have no <pre>."""
    return _PRE_TAG.search(html) is not None  # one case-blind scan: half the cost of two `in` scans


def _resiliparse(html: str) -> str:
    return tree_text(parse(html), fences=has_pre(html))


def _resiliparse_plain(html: str) -> str:
    return tree_text(parse(html), fences=False)


def _trafilatura(html: str) -> str:
    import trafilatura

    text = trafilatura.extract(
        html, include_comments=False, include_tables=True, include_formatting=False, deduplicate=False
    )
    return text or ""


EXTRACTORS: dict[str, Extractor] = {
    "resiliparse": _resiliparse, "resiliparse-plain": _resiliparse_plain, "trafilatura": _trafilatura,
}  # fmt: skip


def get_extractor(name: str) -> Extractor:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}; valid: {', '.join(sorted(EXTRACTORS))}") from None


def extract(html: str, name: str = "resiliparse") -> str:
    """Extract main text; a page the extractor cannot parse yields '' (the caller counts it)."""
    try:
        return get_extractor(name)(html).strip()
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - a malformed page must never stop a WARC
        return ""
