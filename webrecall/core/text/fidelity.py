"""How faithfully a kept text carries its page: code blocks verbatim, code blocks present, template lines.

- A `<pre>` block with indented lines counts as **verbatim** when >= 90% of its indented lines appear in the
  extracted text as lines, leading whitespace included, and as **present** when >= 90% of its non-empty lines
  appear with whitespace ignored (the code is there, maybe re-flowed).
- A **template line** is a line found on at least half of a site's pages (and on two at least), among sites
  with `MIN_SITE_PAGES` pages or more: navigation, footers, cookie banners the extractor failed to drop.

The index pass counts blocks per page (`code_counts`, cheap: only pages with `<pre>` cost anything) and a round
sums them over its kept pages; `template_share` needs a site's pages together, so reports compute it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from webrecall.core.text.extract import FENCE

if TYPE_CHECKING:
    from resiliparse.parse.html import HTMLTree

SHARE = 0.9
MIN_SITE_PAGES = 4


@dataclass(slots=True)
class CodeCounts:
    blocks: int = 0
    """`<pre>` blocks with at least one indented line."""
    verbatim: int = 0
    present: int = 0

    def __iadd__(self, other: CodeCounts) -> CodeCounts:
        self.blocks += other.blocks
        self.verbatim += other.verbatim
        self.present += other.present
        return self


def code_blocks(tree: HTMLTree) -> list[list[str]]:
    """The lines of each outermost `<pre>` block that has indented lines (read before the tree is fenced)."""
    body = tree.body
    if body is None:
        return []
    blocks = []
    for pre in body.query_selector_all("pre"):
        parent = pre.parent
        while parent is not None and parent.tag not in ("pre", "body"):
            parent = parent.parent
        if parent is not None and parent.tag == "pre":
            continue
        lines = [line.rstrip() for line in (pre.text or "").splitlines()]
        if any(line[:1] in (" ", "\t") and line.strip() for line in lines):
            blocks.append(lines)
    return blocks


def code_counts(blocks: list[list[str]], text: str) -> CodeCounts:
    """Which of a page's code blocks survive in `text` verbatim, and which at all."""
    counts = CodeCounts()
    if not blocks:
        return counts
    exact = {line.rstrip() for line in text.splitlines()}
    squashed = {"".join(line.split()) for line in exact}
    for lines in blocks:
        indented = [line for line in lines if line[:1] in (" ", "\t") and line.strip()]
        nonempty = ["".join(line.split()) for line in lines if line.strip()]
        counts.blocks += 1
        counts.verbatim += sum(line in exact for line in indented) >= SHARE * len(indented)
        counts.present += sum(line in squashed for line in nonempty) >= SHARE * len(nonempty)
    return counts


def template_share(pages: Iterable[tuple[str, str]], *, min_site_pages: int = MIN_SITE_PAGES) -> tuple[float, int]:
    """(share of the non-empty lines of (site, text) pages that are template lines, lines counted); code fences
    are markup, not lines of the page."""
    by_site: dict[str, list[list[str]]] = defaultdict(list)
    for site, text in pages:
        by_site[site].append([line.strip() for line in text.splitlines() if line.strip() and line != FENCE])
    template = total = 0
    for docs in by_site.values():
        if len(docs) < min_site_pages:
            continue
        seen = Counter(line for lines in docs for line in set(lines))
        floor = max(2, math.ceil(len(docs) / 2))
        for lines in docs:
            total += len(lines)
            template += sum(seen[line] >= floor for line in lines)
    return (template / total if total else 0.0), total
