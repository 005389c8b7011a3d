"""What an annotator may label from a claimed item: patterns on that item's site only.

The Label page's pattern field can be edited to narrow or widen a proposal, so without a check a claim on
`docs.python.org` could store a label for `evil.example.com/` (or for a look-alike IDN host), and that label would
seed the next round. A pattern's host is compared with the item's after IDNA normalisation (UTS 46: case, full-width
dots, Unicode forms), by site: the registered domain, counting the public suffix list's private suffixes, so that
`alice.github.io` and `bob.github.io` are two sites. Operators with the API token label any pattern; this is the
annotators' rule.
"""

from __future__ import annotations

import idna

from webrecall.core.urls.domains import site
from webrecall.core.urls.patterns import url_key


def ascii_host(host: str) -> str:
    """The host as DNS carries it (`xn--` labels), lower case, without a port or a trailing dot; ValueError if it
    is no valid host name."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip().rstrip(".").lower()
    if not name:
        raise ValueError("no host name")
    if name.isascii():
        return name
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{host!r} is not a valid host name ({exc})") from None


def confine(pattern: str, domain: str) -> str:
    """The pattern (or URL) with its host in ASCII form, if that host is on the site of `domain` (the claimed item's
    host); ValueError with the reason otherwise."""
    key = url_key(pattern.strip())
    head, slash, rest = key.partition("/")
    if not head or "%" in head or "*" in head:
        raise ValueError(f"{pattern!r}: spell out the host (no % or * before the first /); a label from this item "
                         f"must stay on {domain}'s site")  # fmt: skip
    host = ascii_host(head)
    port = head.rsplit(":", 1)[1] if head.count(":") == 1 else ""
    home = site(ascii_host(domain))
    if site(host) != home:
        raise ValueError(f"{pattern!r} is outside the claimed domain's site ({home}): a label from this item must "
                         f"name {home} or one of its subdomains")  # fmt: skip
    return f"{host}{':' + port if port else ''}{slash}{rest}"
