"""Generic code-structure signals for the classifier input: what a page's markup and lines look like, not whose.

A model trained on a few documentation sites learns their style ("documentation site"); these signals describe
code itself, so they carry to blogs, tutorials and Q&A pages the seeds never showed (issue 14). Nothing here names
a site or a domain: only HTML elements every site uses (`<pre>`, `<code>`), class words of the common syntax
highlighters (highlight.js, Prism, Pygments, ...) and the shape of lines (indentation, braces, operators, keywords
of common languages).

Two halves:
- `html_signals(tree)`: counted in the index pass from the page's own resiliparse parse (no second parse) and stored
  in the page cache as a short `k=v` string (`signals` column), so later rounds reuse it.
- `line_stats(text)`: computed from the text itself whenever it is scored, so a seed text or a trafilatura text gets
  the same treatment as the fast text.

`with_signals(text, signals)` prefixes a text with a marker line; `Classifier.tokenize` strips that line and, for a
model trained with signals (`meta["signals"]`), turns it into bucketed tokens repeated `repeat` times (fastText
averages its input, so a few tokens among 1,024 BPE tokens would weigh nothing). A model without signals ignores the
marker, so today's models score exactly as before.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from webrecall.core.text.extract import DEFAULT
from webrecall.core.text.fidelity import CodeCounts

MARK = "\u2042sig "
"""Start of the signals line. U+2042 never occurs in a byte-level BPE token, so the tokens cannot collide."""
VERSION = 2
"""Bump when a token's meaning changes: it is part of `spec_id`, hence of the token-cache key. 2: prose lines of
scripts written without spaces (a v1 model never saw one: a Japanese page's text had no prose line)."""
MAX_BLOCK_CHARS = 20_000
"""Characters of code blocks examined per page: bounds the cost of huge pages."""
MAX_TEXT_CHARS = 16_000
"""Characters of a text whose lines are examined (the BPE input is its first 4,096)."""
HIGHLIGHT_WORDS = ("highlight", "hljs", "prism", "language-", "lang-", "sourcecode", "syntax", "codehilite", "brush:")
"""Class words of common syntax highlighters (libraries, not sites)."""

_KEYWORD = re.compile(
    r"^\s*(?:def|class|import|from|return|if|elif|else|for|while|try|except|with|function|var|let|const|public|"
    r"private|protected|static|void|int|char|struct|enum|package|func|fn|use|namespace|template|select|insert|"
    r"update|delete|create|alter|drop|#include|#define|\$|>>>|\.\.\.|%|echo|sudo|cd|ls|pip|npm|git|export|"
    r"@\w+)\b",
    re.IGNORECASE,
)
_OPERATOR = re.compile(r"(?:[=!<>]=|&&|\|\||->|=>|::|\+=|-=|\w\(|\)\s*[;{:]|[;{}]\s*$|^\s*[})\]]|\w\[|\w\.\w+\()")
_JSON = re.compile(r'^\s*(?:"[^"]*"\s*:|[\[{]\s*$|[\]}],?\s*$)')
_WORD = re.compile(r"[^\W\d_]{2,}")


_OP_CHARS = re.compile(r"[=&|>:()\[\];{}]")
"""Every `_OPERATOR` alternative needs one of these characters: a line without any cannot match (a cheap test
that spares most prose lines the alternation)."""
_PROSE_ENDS = ".!?\"'\u3002\uff01\uff1f\uff61\u0964\u061f\u06d4"
"""Sentence ends: ASCII, CJK (full stop, full-width ! and ?, half-width full stop), Devanagari danda, Arabic ? and
Urdu full stop."""
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                       r"\uf900-\ufaff\uff66-\uff9f]")
"""Letters of scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, kana, CJK ideographs), where
a `_WORD` run is a whole clause: two of them count as a word."""
_SYMBOLS = frozenset("{}[]()<>=;:+-*/&|!#$%\\_.,'\"")


def _has_operator(s: str) -> bool:
    return _OP_CHARS.search(s) is not None and _OPERATOR.search(s) is not None


def _is_code(s: str, op: bool) -> bool:
    """`is_code_line` of a stripped, non-empty line whose `_has_operator` is `op`."""
    if len(s) > 400:
        return False
    if _JSON.match(s) and not _has_operator(s.replace('":', "")):
        return False
    if _KEYWORD.match(s) and (len(s) < 80 or op):
        return True
    if not op:
        return False
    words = _words(s)
    symbols = sum(1 for ch in s if ch in _SYMBOLS)
    return symbols >= 2 and symbols * 4 >= words or s.endswith((";", "{", "}"))


def _words(s: str) -> int:
    return len(_WORD.findall(s)) + len(_UNSPACED.findall(s)) // 2


def _is_prose(s: str, op: bool) -> bool:
    if s[-1:] not in _PROSE_ENDS or op:
        return False
    return next(islice(_WORD.finditer(s), 7, None), None) is not None or _words(s) >= 8


def is_code_line(line: str) -> bool:
    """A line that looks like source code or a shell command in any common language."""
    s = line.strip()
    return bool(s) and _is_code(s, _has_operator(s))


def is_json_line(line: str) -> bool:
    return bool(_JSON.match(line.strip()))


def is_prose_line(line: str) -> bool:
    s = line.strip()
    return bool(s) and _is_prose(s, _has_operator(s))


def _shapes(lines: list[str]) -> tuple[int, int]:
    """(code-like, prose-like) lines among non-empty lines: one operator search per line serves both tests."""
    code = prose = 0
    for line in lines:
        s = line.strip()
        op = _has_operator(s)
        code += _is_code(s, op)
        prose += _is_prose(s, op)
    return code, prose


def line_stats(text: str) -> dict[str, int]:
    """Line shapes of a text: how many lines, code-like lines, indented lines, prose-like lines."""
    lines = [ln for ln in text[:MAX_TEXT_CHARS].splitlines() if ln.strip()]
    code, prose = _shapes(lines)
    return {
        "tl": len(lines),
        "tcl": code,
        "til": sum(1 for ln in lines if ln[:1] in " \t" and len(ln) - len(ln.lstrip()) >= 2),
        "tpl": prose,
    }


def block_stats(blocks: list[str]) -> dict[str, int]:
    lines = [ln for b in blocks for ln in b.splitlines() if ln.strip()]
    code, prose = _shapes(lines)
    return {"bl": len(lines), "bcl": code, "bjl": sum(map(is_json_line, lines)), "bpl": prose}


def html_signals(tree: Any) -> str:
    """Code-structure counts of a parsed page (a resiliparse `HTMLTree`), as the cache's `k=v` string."""
    body = tree.body
    if body is None:
        return ""
    pres = body.get_elements_by_tag_name("pre")
    codes = body.get_elements_by_tag_name("code")
    # one CSS query: iterating a node collection from Python costs O(n) per item (minutes on a 3,000-element page)
    highlighted = len(body.query_selector_all(", ".join(f'[class*="{w}" i]' for w in HIGHLIGHT_WORDS)))
    blocks: list[str] = []
    budget = MAX_BLOCK_CHARS
    for el in pres:
        if budget <= 0:
            break
        text = el.text[:budget]
        budget -= len(text)
        blocks.append(text)
    counts = {"pre": len(pres), "code": len(codes), "hl": highlighted, "bc": sum(map(len, blocks)),
              "tc": len(body.text or ""), **block_stats(blocks)}  # fmt: skip
    return encode(counts)


@dataclass(slots=True)
class PageText:
    """What one parse of a page gives every pass: its text, its code-block counts and its code signals."""

    text: str = ""
    code: CodeCounts = field(default_factory=CodeCounts)
    signals: str = ""


def page_text(html: str, extractor: str = DEFAULT) -> PageText:
    """Text, code-block counts (text.fidelity) and code signals of a page from one parse, as the index pass
    caches them and the read-back re-makes them. The DOM is read (code blocks, signals) before `tree_text` fences
    its `<pre>` blocks in place.

    Each part fails alone, so a malformed page never stops a WARC: a page that cannot be parsed gives an empty
    `PageText`; signals computed before the text extraction failed are kept (the page is still scored with them);
    a failed text extraction gives '' (the caller counts it as an empty text) whose code blocks all count as
    lost. An unknown
    `extractor` name is a configuration error and raises `ValueError`."""
    from webrecall.core.text.extract import get_extractor, has_pre, parse
    from webrecall.core.text.fidelity import code_blocks, code_counts

    chosen = get_extractor(extractor)
    try:
        tree = parse(html)
    except Exception:  # noqa: BLE001 - as `extract`: a malformed page yields '' and is counted by the caller
        return PageText()
    pre = has_pre(html)
    try:
        blocks = code_blocks(tree) if pre else []
    except Exception:  # noqa: BLE001 - fidelity is a measure: a page it fails on counts no block
        blocks = []
    try:
        signals = html_signals(tree)
    except Exception:  # noqa: BLE001 - signals are a hint: a page they fail on is still cached and scored
        signals = ""
    try:
        text = chosen.text_of(tree, html, pre=pre)  # the one parse, for an extractor that works on it
    except Exception:  # noqa: BLE001
        text = ""
    return PageText(text, code_counts(blocks, text), signals)


def encode(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={int(v)}" for k, v in counts.items())


def decode(signals: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in signals.split():
        k, _, v = part.partition("=")
        if v.lstrip("-").isdigit():
            out[k] = int(v)
    return out


def with_signals(text: str, signals: str | None) -> str:
    """The classifier input for a page: its HTML signals line, then its text (no line when it has none)."""
    if not signals:
        return text
    return f"{MARK}{signals}\n{text}"


def split_signals(text: str) -> tuple[str, str]:
    """(signals, text) of a classifier input; a text without a marker line has no HTML signals."""
    if not text.startswith(MARK):
        return "", text
    head, _, rest = text.partition("\n")
    return head[len(MARK) :], rest


def _log_bucket(n: int, top: int = 6) -> int:
    return 0 if n <= 0 else min(1 + int(math.log2(n)), top)


def _share_bucket(part: int, whole: int, edges: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5)) -> int:
    if whole <= 0 or part <= 0:
        return 0
    share = part / whole
    return 1 + sum(share >= e for e in edges)


def tokens(signals: str, text: str) -> list[str]:
    """Bucketed signal tokens of a page: its markup counts (when known) and the line shapes of its text."""
    s, t = decode(signals), line_stats(text)
    named = {"tcl": _share_bucket(t["tcl"], t["tl"]), "til": _share_bucket(t["til"], t["tl"]),
             "tcn": _log_bucket(t["tcl"]), "tpl": _share_bucket(t["tpl"], t["tl"])}  # fmt: skip
    if not s:
        named["nohtml"] = 1
    else:
        named.update({k: _log_bucket(s.get(k, 0)) for k in ("pre", "code", "hl")})
        named["bc"] = _share_bucket(s.get("bc", 0), s.get("tc", 0))
        if s.get("bl", 0):  # the shape of the lines inside <pre>: code, JSON/data, or prose
            named.update({k: _share_bucket(s.get(k, 0), s["bl"]) for k in ("bcl", "bjl", "bpl")})
            named["bcn"] = _log_bucket(s.get("bcl", 0))
    return [f"\u2042{k}{v}" for k, v in named.items()]


def spec(repeat: int) -> dict[str, int]:
    """What a model records in its meta: which signal tokens it was trained with."""
    return {"version": VERSION, "repeat": repeat}


def spec_id(meta_spec: dict[str, Any] | None) -> str:
    """Short id of a signals spec, '' for none: part of the token-cache key, so cached lines never go stale."""
    if not meta_spec:
        return ""
    blob = f"{meta_spec.get('version')}|{meta_spec.get('repeat')}"
    return hashlib.sha1(blob.encode()).hexdigest()[:8]


def prefix(meta_spec: dict[str, Any] | None, signals: str, text: str) -> str:
    """The signal tokens a model with this spec reads before a page's BPE tokens ('' for a model without)."""
    if not meta_spec:
        return ""
    if int(meta_spec.get("version", 0)) != VERSION:
        raise ValueError(f"model trained with code signals v{meta_spec.get('version')}, this code makes v{VERSION}")
    return " ".join(tokens(signals, text) * max(int(meta_spec.get("repeat", 1)), 1))
