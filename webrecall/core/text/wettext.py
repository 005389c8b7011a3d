"""Whole-page plain text by Common Crawl's WET rule, for crawls that come without WET files.

The rule (Common Crawl's text extraction in ia-web-commons, reproduced on resiliparse's parse tree):
- every text node of the document in order, the title included; `<script>` and `<style>` contents and comments
  left out; navigation, menus and footers kept: this is the whole page, not its main content;
- outside `<pre>`, control characters and no-break spaces become spaces and each run of white space keeps its
  first character; a run at the start of a line is dropped;
- a block element (`p`, `div`, `li`, `h1`-`h6`, `tr`, `th`, `br`, `title`, ... the list below) starts and ends a
  line: trailing spaces are cut and one newline is written unless the text already ends in one;
- a spacing inline element (`td`, `img`, `label`, `select`, ...) is set apart by one space;
- inside `<pre>` the text is kept as it is, newlines and indentation included.

On the one page of Common Crawl's own sample (CC-MAIN-2024-22, `whirlwind`) this gives CC's WET text byte for
byte. Where it can differ: resiliparse builds the HTML5 tree (implied and re-nested elements, a newline right
after `<pre>` dropped) where Common Crawl's lexer sees the tags as written.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from resiliparse.parse.html import DOMNode, HTMLTree

BLOCK = frozenset(
    "address article aside blockquote body br button canvas caption col colgroup dd div dl dt embed fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li map noscript object ol output p pre "
    "progress section table tbody textarea tfoot th thead title tr ul video".split()
)
SPACED = frozenset(
    "address cite details datalist iframe img input label legend optgroup q select summary tbody td time".split()
)
_SKIP = frozenset(("script", "style"))
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_CONTROL = re.compile("[\x00-\x1f\x7f\xa0]")
_WS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000"
"""White space as Java's Character.isWhitespace sees it (no-break spaces excepted)."""
_RUN = re.compile(f"([{_WS}])[{_WS}]+")
_IS_WS = re.compile(f"[{_WS}]")


def whole_text(tree: HTMLTree) -> str:
    """The page's plain text by the rule above (what Common Crawl's WET record of the page holds)."""
    from resiliparse.parse.html import NodeType

    out: list[str] = []
    element, text_node = NodeType.ELEMENT, NodeType.TEXT

    def mark(tag: str) -> None:
        if tag in BLOCK:
            while out and out[-1].endswith(" "):
                cut = out.pop().rstrip(" ")
                if cut:
                    out.append(cut)
            if out and not out[-1].endswith("\n"):
                out.append("\n")
        elif tag in SPACED and out and not out[-1].endswith((" ", "\n")):
            out.append(" ")

    pre = 0
    doc = tree.document
    stack: list[tuple[DOMNode, bool]] = [(c, False) for c in reversed(_children(doc))] if doc is not None else []
    while stack:
        node, closing = stack.pop()
        kind = node.type
        if kind == text_node:
            txt = node.value or ""
            if not pre:
                txt = _RUN.sub(r"\1", _CONTROL.sub(" ", txt))
                if txt and _IS_WS.match(txt) and (not out or _IS_WS.match(out[-1][-1])):
                    txt = txt[1:]
            if txt:
                out.append(txt)
        elif kind == element:
            tag = node.tag or ""
            if closing:
                mark(tag)
                pre -= tag == "pre"
                continue
            if tag in _SKIP:
                continue
            mark(tag)
            if tag in _VOID:
                continue
            pre += tag == "pre"
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(_children(node)))
    return "".join(out)


def _children(node: Any) -> list[DOMNode]:
    out = []
    child = node.first_child
    while child is not None:
        out.append(child)
        child = child.next
    return out


View = Literal["head", "spread"]
VIEW_CHARS = 4096
"""What the pre-filter reads of a WET text: about what the BPE reads of a text (its first 4,096 characters)."""


def view(text: str, mode: View, budget: int = VIEW_CHARS) -> str:
    """The part of a page's WET text the pre-filter reads: its head (`head`), or `spread`: eight windows of whole
    lines at even steps across the page, so a page whose head is navigation still shows its body."""
    if mode == "head" or len(text) <= budget:
        return text[:budget] if mode == "head" else text
    windows, size = 8, budget // 8
    out = []
    for k in range(windows):
        start = (len(text) - size) * k // (windows - 1)
        if start:
            start = text.find("\n", start - 1) + 1 or start  # from a line's start
        out.append(text[start : start + size])
    return "\n".join(out)
