"""Domain keys (host and registered domain, offline suffix list) and language guesses for pages."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

import tldextract

_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The bundled public-suffix snapshot: no network, same answer on every worker.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def registered_domain(host: str) -> str:
    parts = _extractor()(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    return host


def split_url(url: str) -> tuple[str, str, str]:
    """(host, registered domain, path+query) of a URL; the host is the paper's 'base URL' domain key."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return "", "", ""
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return host, registered_domain(host) if host else "", path


def guess_lang(text: str) -> str:
    """ISO 639-1 code, or '' when unknown. resiliparse for alphabetic scripts; script counts for CJK."""
    sample = text[:2000]
    if not sample.strip():
        return ""
    from resiliparse.parse.lang import detect_fast

    lang, _ = detect_fast(sample)
    if lang != "unknown":
        return lang
    if _KANA.search(sample):
        return "ja"
    if _HANGUL.search(sample):
        return "ko"
    if _HAN.search(sample):
        return "zh"
    return ""
