"""Domain keys: host and registered domain (offline suffix list)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import tldextract


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


@lru_cache(maxsize=65536)
def site(host: str) -> str:
    """The registered domain with the public suffix list's private suffixes counted too: `alice.github.io` is a site
    of its own (`registered_domain` gives `github.io`, the unit of the paper's domain rule)."""
    parts = _extractor()(host, include_psl_private_domains=True)
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
