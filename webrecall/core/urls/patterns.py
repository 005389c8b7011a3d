"""URL patterns that annotators label: prefix form, OpenCoder's `%` wildcard form, `*` path-segment wildcards.

- `docs.python.org/3/` matches every URL whose scheme-less form starts with it.
- `%ask.csdn.net/questions%` is SQL LIKE on the scheme-less URL (`%` = any run of characters, anchored).
- `stackoverflow.com/questions/*/` : `*` matches within one path segment (what proposals emit).
The most specific pattern (most literal characters) wins on a URL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_HOST_CHARS = re.compile(r"^[a-z0-9.-]+(:\d+)?$")


def url_key(url: str) -> str:
    """The scheme-less form patterns match against, host lower-cased: `docs.python.org/3/library/os.html`."""
    rest = _SCHEME.sub("", url.strip())
    host, sep, path = rest.partition("/")
    return host.lower() + sep + path


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    host: str | None
    specificity: int

    def matches(self, url: str) -> bool:
        return self.regex.match(url_key(url)) is not None


def parse(pattern: str) -> Pattern:
    """Validate and compile a pattern; ValueError with the reason if it is malformed."""
    raw = pattern.strip()
    if not raw:
        raise ValueError("empty URL pattern")
    if any(c.isspace() for c in raw):
        raise ValueError(f"URL pattern {pattern!r} contains whitespace")
    text = url_key(raw)
    literal = text.replace("%", "").replace("*", "")
    if len(literal) < 4:
        raise ValueError(f"URL pattern {pattern!r} is too broad: it needs at least 4 literal characters")
    like = "%" in text
    parts = re.split(r"(%|\*)", text)
    body = "".join(".*" if p == "%" else "[^/?#]*" if p == "*" else re.escape(p) for p in parts)
    regex = re.compile(body + ("$" if like else ""), re.DOTALL)
    head = text.split("/", 1)[0]
    host = head if ("%" not in head and "*" not in head and "/" in text and _HOST_CHARS.match(head)) else None
    if not like and host is None and "/" not in text and _HOST_CHARS.match(text):
        host = text  # a bare host such as `docs.python.org` is a prefix on that host
    return Pattern(text=text, regex=regex, host=host, specificity=len(literal))


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
            if pat.regex.match(key) and (best is None or pat.specificity > best[0].specificity):
                best = (pat, payload)
        return best

    def matches(self, url: str) -> bool:
        return self.match(url) is not None


def exact(url: str) -> Pattern:
    """A pattern matching one URL only (URL-level labels); it beats any pattern of the same text."""
    key = url_key(url)
    host = key.split("/", 1)[0]
    return Pattern(text=key, regex=re.compile(re.escape(key) + "$"), host=host, specificity=len(key) + 1)
