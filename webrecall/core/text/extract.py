"""Main-text extraction: `Extractor` objects, chosen by name from a registry.

`resiliparse` (the default) is the text the index pass caches and the kept text: main content with formatting
preserved and every `<pre>` block fenced with ``` on lines of their own, its indentation intact (`unfence`
removes the fences). It keeps code blocks verbatim where trafilatura drops or re-flows about a fifth of them
(bench/run.py measures both), at a tenth of the cost. `trafilatura` stays available for rounds that ask for it.

An extractor carries its name and the version of the package that does the work; both make its `id`, which is
part of the page cache's key (`storage.layout.cache_path`), so a data dir reused with another extractor, or another
version of one, never scores text the cache made with the old one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resiliparse.parse.html import HTMLTree
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


@cache
def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class Extractor:
    """A main-text extractor: its name, the package whose version it is, and how it makes a page's text (from the
    page's resiliparse tree when it can use the one parse the index pass makes, else from the HTML)."""

    name: str
    package: str
    from_html: Callable[[str], str]
    from_tree: Callable[[HTMLTree, bool], str] | None = None
    """Text from the parsed page and whether its HTML has a `<pre>` (`has_pre`, which the caller knows already)."""
    fences: bool = False
    """Its text carries ``` lines around code blocks (an export without fences removes them)."""

    @property
    def version(self) -> str:
        return package_version(self.package)

    @property
    def id(self) -> str:
        """Name and version: the page cache's key (`storage.layout.cache_path`)."""
        return f"{self.name}-{self.version}"

    def extract(self, html: str) -> str:
        """Main text; a page the extractor cannot parse yields '' (the caller counts it)."""
        try:
            return self.from_html(html).strip()
        except Exception:  # noqa: BLE001 - a malformed page must never stop a WARC
            return ""

    def text_of(self, tree: HTMLTree, html: str, *, pre: bool | None = None) -> str:
        """Main text of a page already parsed (`parse`): the tree is used, and fenced in place, when the extractor
        works on it; otherwise as `extract`. Raises what the extractor raises (the caller classifies it)."""
        if self.from_tree is not None:
            return self.from_tree(tree, has_pre(html) if pre is None else pre)
        return self.from_html(html).strip()


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


EXTRACTORS: dict[str, Extractor] = {e.name: e for e in (
    Extractor("resiliparse", "resiliparse", _resiliparse, lambda tree, pre: tree_text(tree, fences=pre), fences=True),
    Extractor("resiliparse-plain", "resiliparse", _resiliparse_plain, lambda tree, _: tree_text(tree, fences=False)),
    Extractor("trafilatura", "trafilatura", _trafilatura),
)}  # fmt: skip
DEFAULT = "resiliparse"


def get_extractor(name: str) -> Extractor:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}; valid: {', '.join(sorted(EXTRACTORS))}") from None


def extract(html: str, name: str = DEFAULT) -> str:
    """Extract main text with the extractor `name`; a page it cannot parse yields '' (the caller counts it)."""
    return get_extractor(name).extract(html)
