"""What a source URL may be: the API's allowlist of base URLs, and where a redirect may lead (no SSRF).

A location that comes from a request must lie under a base URL the operator configured, and a source the operator
allowed must not bounce a worker to loopback, link-local (cloud metadata) or private addresses by a redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import unquote, urljoin, urlsplit

from webrecall.core.errors import FatalError


def check_source(location: str, allowed: list[str]) -> str:
    """`location` if it lies under one of the `allowed` base URLs (an operator's list), else ValueError.

    For locations that come from a request (the API): no other scheme, host or port, no credentials, no
    `..` segments, so a request cannot make the service read local files or internal addresses (SSRF).
    """
    try:
        parts = urlsplit(location.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{location!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https", "s3", "gs") or not parts.hostname:
        raise ValueError(f"source {location!r} is not allowed: only http(s)/s3/gs URLs under a configured base URL")
    if parts.username or parts.password or "\\" in location or any(ord(c) < 33 for c in location):
        raise ValueError(f"source {location!r} is not allowed: credentials, backslashes or control characters")
    if ".." in unquote(unquote(parts.path)).split("/"):
        raise ValueError(f"source {location!r} is not allowed: '..' in the path")
    for base in allowed:
        b = urlsplit(base.strip())
        same_origin = (b.scheme.lower(), (b.hostname or "").lower(), b.port) == (
            parts.scheme.lower(), parts.hostname.lower(), port,
        )  # fmt: skip
        prefix = b.path.rstrip("/") + "/"
        if same_origin and (parts.path.rstrip("/") + "/").startswith(prefix):
            return location.strip()
    listed = dict.fromkeys(b.strip().rstrip("/") + "/" for b in allowed)  # the same base may be configured twice
    raise ValueError(f"source {location!r} is not allowed: not under a configured base URL ({', '.join(listed)})")


def redirect_target(url: str, location: str) -> str:
    """Where a redirect from `url` may go: the same host (any path, or an http -> https upgrade), or another host
    only if every address it resolves to is public; FatalError otherwise."""
    target = urljoin(url, location)
    src, dst = urlsplit(url), urlsplit(target)
    if dst.scheme not in ("http", "https") or not dst.hostname:
        raise FatalError(f"{url}: redirect to {target!r} refused (not an http(s) URL)")
    if (dst.hostname or "").lower() == (src.hostname or "").lower() and (
        dst.port == src.port or (src.scheme, dst.scheme) == ("http", "https")
    ):
        return target
    try:
        infos = socket.getaddrinfo(dst.hostname, dst.port or (443 if dst.scheme == "https" else 80))
    except OSError as exc:
        raise FatalError(f"{url}: redirect to {target!r} refused (cannot resolve {dst.hostname}: {exc})") from exc
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    if not addresses or not all(a.is_global for a in addresses):
        raise FatalError(f"{url}: redirect to {target!r} refused (another host with a non-public address)")
    return target
