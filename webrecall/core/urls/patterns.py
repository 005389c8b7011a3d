"""URL patterns that annotators label: prefix form, OpenCoder's `%` wildcard form, `*` path-segment wildcards.

- `docs.python.org/3/` matches every URL whose scheme-less form starts with it.
- `%ask.csdn.net/questions%` is SQL LIKE on the scheme-less URL (`%` = any run of characters, anchored).
- `stackoverflow.com/questions/*/` : `*` matches within one path segment (what proposals emit).
The most specific pattern (most literal characters) wins on a URL.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_LEADING_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(?!\d)")
_HOST_CHARS = re.compile(r"^[a-z0-9.-]+(:\d+)?$")
_STOP = re.compile(r"[/?#]")
"""What `*` does not cross: it stays within one path segment."""
MAX_CHARS = 512
MAX_WILDCARDS = 16
"""After runs are collapsed; real patterns have one to three (OpenCoder's have two)."""
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def url_key(url: str) -> str:
    """The scheme-less form patterns match against, host lower-cased: `docs.python.org/3/library/os.html`."""
    rest = _SCHEME.sub("", url.strip())
    host, sep, path = rest.partition("/")
    return host.lower() + sep + path


def check_text(text: str, *, what: str = "URL pattern") -> None:
    """The characters no label target may hold (ValueError with the reason): NUL and other control characters,
    lone surrogates, and invisible format characters such as bidi overrides, which make a pattern read differently
    from what it matches; and a scheme other than http(s), e.g. `javascript:` or `file:`."""
    for ch in text:
        cat, code = unicodedata.category(ch), f"U+{ord(ch):04X}"
        if ch == "\0":
            raise ValueError(f"{what} {text!r} contains a NUL character")
        if cat == "Cc":
            raise ValueError(f"{what} {text!r} contains the control character {code}")
        if cat == "Cs":
            raise ValueError(f"{what} {text!r} contains a lone surrogate {code} (not valid Unicode text)")
        if ch in _BIDI:
            raise ValueError(f"{what} {text!r} contains the bidirectional-text control {code}: it can make a "
                             "pattern display differently from what it matches")  # fmt: skip
        if cat == "Cf":
            raise ValueError(f"{what} {text!r} contains the invisible format character {code}")
    stripped = text.strip()
    scheme = _SCHEME.match(stripped)
    if scheme and scheme.group(0).lower() not in ("http://", "https://"):
        raise ValueError(f"{what} {text!r} has the scheme {scheme.group(0)!r}: only http(s) URLs or scheme-less "
                         "patterns")  # fmt: skip
    if bare := _LEADING_SCHEME.match(_SCHEME.sub("", stripped)):
        raise ValueError(f"{what} {text!r} starts with the scheme {bare.group(0)!r}: only http(s) URLs or "
                         "scheme-less patterns")  # fmt: skip


def collapse(text: str) -> str:
    """`%%`, `%*` and `*%` mean `%`, `**` means `*`: one wildcard each, so matching work stays linear."""
    return re.sub(r"\*+", "*", re.sub(r"[%*]*%[%*]*", "%", text))


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern: its literal `head`, then `steps` of (wildcard, literal). `anchored`: the URL must end
    where the pattern does (the `%` form, SQL LIKE); otherwise the pattern is a prefix."""

    text: str
    host: str | None
    specificity: int
    head: str
    steps: tuple[tuple[str, str], ...]
    anchored: bool
    prefix_regex: re.Pattern[str] | None = None
    """A prefix pattern with `*`s: each `*` and the literal after it as an atomic group that takes the first
    place the literal fits and never gives it back (from a fixed start, the first place is always the best)."""
    like_literals: tuple[str, ...] | None = None
    """A `%` pattern without `*`: its literals after the head."""

    def matches(self, url: str) -> bool:
        return self.match_key(url_key(url))

    def match_key(self, key: str) -> bool:
        """Whether `key` (a `url_key`) matches, without backtracking.

        `%` only: each literal at its first place after the one before (the earliest end is always the best).
        With `*` in a `%` pattern: the URL is scanned once per wildcard, keeping the positions where the pattern
        can stand after each literal (after `%` only the first one counts) and looking the next literal up with
        `str.find` from those only. Work is O(len(key)) per wildcard, whatever the pattern."""
        if self.prefix_regex is not None:
            return self.prefix_regex.match(key) is not None
        if not key.startswith(self.head):
            return False
        if not self.steps:
            return len(key) == len(self.head) if self.anchored else True
        if (lits := self.like_literals) is not None:
            pos = len(self.head)
            for lit in lits[:-1]:
                found = key.find(lit, pos)
                if found < 0:
                    return False
                pos = found + len(lit)
            return key.endswith(lits[-1]) and len(key) - len(lits[-1]) >= pos
        n, ends = len(key), [len(self.head)]
        last = len(self.steps) - 1
        for i, (wild, lit) in enumerate(self.steps):
            spans = [(ends[0], n)] if wild == "%" else _runs(key, ends)
            if i == last:
                if self.anchored:  # the literal must close the URL
                    return key.endswith(lit) and any(a <= n - len(lit) <= b for a, b in spans)
                return any(key.find(lit, a, b + len(lit)) != -1 for a, b in spans)
            # before a `%` only the earliest end matters; before a `*` every end does (each has its own run)
            ends = _occurrences(key, lit, spans, first_only=self.steps[i + 1][0] == "%")
            if not ends:
                return False
        return True


def _runs(key: str, ends: list[int]) -> list[tuple[int, int]]:
    """Where a literal after `*` may start, from each end: up to the next `/`, `?` or `#` (merged, in order)."""
    spans: list[tuple[int, int]] = []
    for e in ends:
        if spans and e <= spans[-1][1]:
            continue  # the same run as the previous end, which reaches further back
        stop = _STOP.search(key, e)
        spans.append((e, stop.start() if stop else len(key)))
    return spans


def _occurrences(key: str, lit: str, spans: list[tuple[int, int]], *, first_only: bool) -> list[int]:
    """The ends of `lit` starting within the spans, in order."""
    out: list[int] = []
    for a, b in spans:
        t = key.find(lit, a, b + len(lit))
        while t != -1:
            out.append(t + len(lit))
            if first_only:
                return out
            t = key.find(lit, t + 1, b + len(lit))
    return out


def compile_pattern(text: str) -> Pattern:
    """A `url_key`-form pattern as a matcher, with no validation (`parse` validates)."""
    text = collapse(text)
    pieces = re.split(r"([%*])", text)
    literal = "".join(pieces[::2])
    head = text.split("/", 1)[0]
    host = head if ("%" not in head and "*" not in head and "/" in text and _HOST_CHARS.match(head)) else None
    like = "%" in text
    if not like and host is None and "/" not in text and _HOST_CHARS.match(text):
        host = text  # a bare host such as `docs.python.org` is a prefix on that host
    steps = tuple(zip(pieces[1::2], pieces[2::2], strict=True))
    regex = None
    if steps and not like:  # `*` only, from a fixed start: one regex, no backtracking into a settled `*`
        regex = re.compile(re.escape(pieces[0]) + "".join(f"(?>[^/?#]*?{re.escape(lit)})" for _, lit in steps if lit))
    lits = tuple(lit for _, lit in steps) if like and "*" not in text else None
    return Pattern(text=text, host=host, specificity=len(literal), head=pieces[0], steps=steps, anchored=like,
                   prefix_regex=regex, like_literals=lits)  # fmt: skip


def parse(pattern: str) -> Pattern:
    """Validate and compile a pattern; ValueError with the reason if it is malformed or unsafe to match."""
    raw = pattern.strip()
    if not raw:
        raise ValueError("empty URL pattern")
    if len(raw) > MAX_CHARS:
        raise ValueError(f"URL pattern of {len(raw)} characters: at most {MAX_CHARS}")
    check_text(raw)
    if any(c.isspace() for c in raw):
        raise ValueError(f"URL pattern {pattern!r} contains whitespace")
    pat = compile_pattern(url_key(raw))
    if len(pat.steps) > MAX_WILDCARDS:
        raise ValueError(f"URL pattern {pattern!r} has {len(pat.steps)} wildcards (`%` or `*`): at most "
                         f"{MAX_WILDCARDS}")  # fmt: skip
    if pat.specificity < 4:
        raise ValueError(f"URL pattern {pattern!r} is too broad: it needs at least 4 literal characters")
    return pat


def label_url_key(url: str) -> str:
    """The key of a URL-level label (one page), with the same character and scheme checks as a pattern."""
    check_text(url, what="URL")
    key = url_key(url)
    if not key:
        raise ValueError("empty URL")
    return key


class PatternSet(Generic[T]):
    """Patterns with a payload each (a label, a flag); `match` returns the most specific one for a URL."""

    def __init__(self, items: Iterable[tuple[str | Pattern, T]] = ()) -> None:
        self._by_host: dict[str, list[tuple[Pattern, T]]] = defaultdict(list)
        self._generic: list[tuple[Pattern, T]] = []
        self._count = 0
        for pat, payload in items:
            self.add(pat, payload)

    def add(self, pattern: str | Pattern, payload: T) -> None:
        pat = parse(pattern) if isinstance(pattern, str) else pattern
        bucket = self._by_host[pat.host.split(":")[0]] if pat.host else self._generic
        bucket.append((pat, payload))
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def match(self, url: str) -> tuple[Pattern, T] | None:
        key = url_key(url)
        host = key.split("/", 1)[0].split(":")[0]
        best: tuple[Pattern, T] | None = None
        for pat, payload in (*self._by_host.get(host, ()), *self._generic):
            if pat.match_key(key) and (best is None or pat.specificity > best[0].specificity):
                best = (pat, payload)
        return best

    def matches(self, url: str) -> bool:
        return self.match(url) is not None


def exact(url: str) -> Pattern:
    """A pattern matching one URL only (URL-level labels); it beats any pattern of the same text."""
    key = url_key(url)
    host = key.split("/", 1)[0]
    return Pattern(text=key, host=host, specificity=len(key) + 1, head=key, steps=(), anchored=True)
