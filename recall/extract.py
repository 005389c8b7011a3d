"""Main-text extraction, chosen by name from a registry: a fast one to score every page, trafilatura to keep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Extractor = Callable[[str], str]


def _resiliparse(html: str) -> str:
    from resiliparse.parse.html import HTMLTree

    return resiliparse_text(HTMLTree.parse(html))


def resiliparse_text(tree: Any) -> str:
    """The fast text of an already parsed page (the index pass parses once for text and code signals)."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(tree, main_content=True, preserve_formatting=True, noscript=False)


def _trafilatura(html: str) -> str:
    import trafilatura

    text = trafilatura.extract(
        html, include_comments=False, include_tables=True, include_formatting=False, deduplicate=False
    )
    return text or ""


EXTRACTORS: dict[str, Extractor] = {"resiliparse": _resiliparse, "trafilatura": _trafilatura}


def get_extractor(name: str) -> Extractor:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}; valid: {', '.join(sorted(EXTRACTORS))}") from None


def extract(html: str, name: str = "trafilatura") -> str:
    """Extract main text; a page the extractor cannot parse yields '' (the caller counts it)."""
    try:
        return get_extractor(name)(html).strip()
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - a malformed page must never stop a WARC
        return ""
