"""Secrets and personal data in kept text: found, replaced by typed placeholders, counted by kind.

- **Secrets** are found by Yelp's detect-secrets plugins, used as a library (their compiled patterns, keyword
  rules, heuristic filters and entropy measure; never their global settings or their network verification):
  cloud and service keys and tokens (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, SendGrid, npm, PyPI, Twilio,
  Mailchimp, Discord, Telegram, Azure, Square, Artifactory), JWTs, PEM/OpenSSH/PGP/PuTTY private keys, passwords
  in URLs (`scheme://user:pass@host`) and secret-named assignments (`password = "..."`, `DB_PASSWORD=...`,
  `api_key: "..."`). Hand-written, because the library has no such detector: the extent of a private key's body
  (the library flags its BEGIN line only), high-entropy strings *assigned to a secret-named variable* (the
  library's entropy plugins flag any quoted random string, hashes and ids included), assigned values that start
  with a symbol (the library's keyword patterns skip them), and `Bearer` tokens.
- **Personal data** as FineWeb's PII formatter (datatrove) does it: e-mail addresses, and IP addresses replaced
  only when public (`ipaddress.is_global`). Beyond it: e-mails match in any case and need a real public suffix
  (so `react@18.2.0` or `logo@2x.png` are no addresses), IPv6 global unicast addresses count too.
- **Not secrets**: documented example values (anything containing `example`, e.g. AWS's `AKIAIOSFODNN7EXAMPLE`),
  placeholders (`<token>`, `${PASSWORD}`, `your-api-key`, `xxxx`, `changeme`, ...), words rather than chosen
  passwords (`scott:tiger`: under eight characters, or fewer than three kinds of character and low entropy),
  names (`settings.DB_PASSWORD`), RFC 2606/6761 domains (`example.com`, `.test`, `.invalid`, ...), loopback,
  private (RFC 1918), documentation (RFC 5737, RFC 3849), multicast and unspecified addresses, networks
  (`/24`), and version-number lookalikes (`v1.2.3.4`, `1.2.3.4.5`, `Section 2.3.1.4`, `2.20.1.1`: three
  one-digit numbers or more, 1 in 4,000 public addresses).

Each value is replaced by `<EMAIL>`, `<IP_ADDRESS>` or `<SECRET:kind>`, the value only: quotes, `key=`, the URL
around a password and a key's BEGIN/END lines stay, so a string literal stays a string literal.

Cost: one Hyperscan pass per text over a superset of every detector's pattern (~1 GB/s); the Python detectors
then run on the few lines that pass, each only for the detector that flagged it.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

EMAIL, IP_ADDRESS = "email", "ip_address"

VERSION = "1"
"""Changes whenever the detectors find other values. The dedup step finds each kept page's values (`spans`) and
records them with this version; an export replaces them without a scan, but only when the version is this one (a
round recalled by an older version is scanned again)."""


def placeholder(kind: str) -> str:
    """The text that replaces a value of this kind."""
    return {EMAIL: "<EMAIL>", IP_ADDRESS: "<IP_ADDRESS>"}.get(kind) or f"<SECRET:{kind}>"


@dataclass(frozen=True, slots=True)
class Finding:
    start: int
    end: int
    kind: str
    rank: int
    """Which finding wins where two overlap: a vendor's format over a generic rule over personal data."""


VENDOR, GENERIC, PERSONAL = 3, 2, 1

# detect-secrets plugins (module, class) and the kind of each of their patterns, in order
_PLUGINS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("aws", "AWSKeyDetector", ("aws_access_key", "aws_secret_key")),
    ("github_token", "GitHubTokenDetector", ("github_token",)),
    ("gitlab_token", "GitLabTokenDetector", ("gitlab_token",)),
    ("slack", "SlackDetector", ("slack_token", "slack_webhook")),
    ("stripe", "StripeDetector", ("stripe_key",)),
    ("openai", "OpenAIDetector", ("openai_key",)),
    ("sendgrid", "SendGridDetector", ("sendgrid_key",)),
    ("npm", "NpmDetector", ("npm_token",)),
    ("pypi_token", "PypiTokenDetector", ("pypi_token",)),
    ("twilio", "TwilioKeyDetector", ("twilio_key",)),
    ("mailchimp", "MailchimpDetector", ("mailchimp_key",)),
    ("discord", "DiscordBotTokenDetector", ("discord_token",)),
    ("telegram_token", "TelegramBotTokenDetector", ("telegram_token",)),
    ("azure_storage_key", "AzureStorageKeyDetector", ("azure_storage_key",)),
    ("square_oauth", "SquareOAuthDetector", ("square_oauth",)),
    ("artifactory", "ArtifactoryDetector", ("artifactory_token",)),
    ("jwt", "JwtTokenDetector", ("jwt",)),
    ("basic_auth", "BasicAuthDetector", ("password",)),
)

_WORDS = r"pass|pwd|secret|key|token|auth(?!or)|credential|contrase|salt"
"""Every secret-named assignment names one of these (detect-secrets' keyword list is a subset)."""
_VALUE = r"[^\s\"'`]{8}"
_ASSIGNMENTS = (
    rf"(?:{_WORDS})\w{{0,40}}[\"'\]]{{0,2}}[ \t]{{0,8}}(?:=>|:=|==?|!=|:)[ \t]{{0,8}}[@\"'`]?{_VALUE}",
    rf"(?:{_WORDS})\w{{0,40}}[ \t]{{0,8}}[(,][ \t]{{0,8}}[\"'`][A-Za-z0-9+/=_-]{{16}}",
    rf"(?:{_WORDS})\S{{0,50}}[ \t]{{1,8}}[\"'`]{_VALUE}[^\"'`\n]*[\"'`];",
)
"""The prefilters of the assignment detectors: a secret word, an assignment (`=`, `:`, `=>`, a call or argument
for a quoted random string, `name "value";`) and eight characters of value at least."""
_BEARER = re.compile(r"\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)", re.IGNORECASE)
_NAME_BEFORE = re.compile(rf"(?:{_WORDS})\w*[\"'\]]?\s*(?:=>|:=|[=:,(])\s*[\"'`]$", re.IGNORECASE)
"""A quoted string right after a secret-named assignment or argument (`API_KEY = "`, `"client_secret": "`,
`set("token", "`): where a high-entropy string is taken."""
_NAME_ASSIGNED = re.compile(rf"(?:{_WORDS})\w*[\"'\]]?\s*(?:=>|:=|[=:])\s*[\"'`]$", re.IGNORECASE)
"""A quoted string assigned to a secret-named variable or key: where any strong literal is taken."""
_QUOTED = re.compile(r"([\"'`])([^\"'`\s]{8,200})\1")
_BARE_END = re.compile(r"[\s&;,()\[\]{}<>]")
"""Where a config-style bare value ends (`password=abc&user=x`, `Password=abc;Database=y`, `pw = Field(`)."""
_NAME_LIKE = re.compile(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)+")
"""`scram-sha-256`, `pbkdf2_sha256`, `utf-8`: a name written in lower case with separators, not a password."""
_NAME_PATH = re.compile(r"[A-Za-z_$@][A-Za-z_$]*\d*(?:(?:\.|->|::)[A-Za-z_$][A-Za-z_$]*\d*)*(?:\(\))?")
"""`userPassword1`, `settings.DB_PASSWORD`, `self->key`: names (digits at their ends only), not random values."""
_BARE = re.compile(rf"(?:{_WORDS})\w*[ \t]*[=:][ \t]*([^\s\"'`,;&()\[\]{{}}<>=:][^\s\"'`,;&()\[\]{{}}<>]{{7,199}})",
                   re.IGNORECASE)  # fmt: skip
"""A config-style bare value (`DB_PASSWORD=...`, `secret: ...`) that detect-secrets' patterns skip."""
_PLACEHOLDER = re.compile(
    r"^(?:x+|\*+|\.+|-+|_+|#+|0+|1234\d*|passw(?:or)?d\d*|pass|secret|s3cr3t|changeme|change_?me|test\w*|"
    r"dummy\w*|fake\w*|foo\w*|bar|baz|admin\w*|root|toor|none|null|nil|empty|undefined|true|false|redacted|"
    r"hidden|placeholder|sample\w*|demo\w*|default|guest|user\w*|some[-_]\w+|mysecret\w*|supersecret\w*|qwerty\w*)$"
    r"|^\$[A-Za-z_]\w*$|^%[A-Za-z_]\w*%$|^<.*>$|^\{.*\}$|^\[.*\]$|^\(.*\)$|\{\{|\$\{|%\(|(?-i:%s)"
    r"|your|example|xxxx|\*\*\*|\.\.\.|\bmy[-_]?(?:pass|secret|key|token|pwd)",
    re.IGNORECASE,
)
"""Values that stand for a secret without being one: documented examples and the usual placeholders."""

# datatrove's e-mail pattern, in any case; the domain must end in a public suffix (checked after the match)
_EMAIL = re.compile(
    r"\b[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?)\b",
    re.IGNORECASE,
)
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
"""RFC 2606's second-level names; its top-level ones (.test, .example, .invalid, .localhost) have no public
suffix, so no address under them is taken."""
_IPV4 = re.compile(r"(?<![\w.\-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                   r"(?![\w\-]|\.\w|/\d)")  # fmt: skip
_IPV6 = re.compile(r"(?<![\w:.])[23][0-9A-Fa-f]{3}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:.]|/\d)")
"""Global unicast (2000::/3) candidates, not networks (`2001:db8::/32`); `ipaddress` decides."""
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NUMBERING_BEFORE = re.compile(r"\b(?:v|version|release|ver|rev|section|chapter|figure|table|step|no|nr|rfc|§)"
                               r"\.?\s*$", re.IGNORECASE)  # fmt: skip
"""`v1.2.3.4`, `Section 12.3.4.5`: numbering, not an address."""
_KEY_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----(.*?)(?:-----END \1-----|(?=\n\s*\n)|\Z)", re.DOTALL
)
_PUTTY = re.compile(r"Private-Lines: *(\d{1,3})[ \t]*\r?\n")
_EDGE = re.compile(r"(?:\s|\\[nr])+")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-+/=]*(?:\.[A-Za-z0-9_\-+/=]+)?")


def _is_placeholder(value: str) -> bool:
    from detect_secrets.filters.heuristic import is_sequential_string

    return bool(_PLACEHOLDER.search(value)) or is_sequential_string(value) or _low_variety(value)


def _low_variety(value: str) -> bool:
    """`ghp_xxxxxxxx...`, `AKIA0000000000000000`: a format with its random part filled by one or two characters."""
    return len(value) >= 12 and len(set(value[len(value) // 3 :])) <= 2


def _strong(value: str) -> bool:
    """A literal that looks chosen as a password or key rather than a word: eight characters or more, of three
    kinds at least (lower, upper, digit, symbol), or random by detect-secrets' entropy limits."""
    if len(value) < 8 or any(c.isspace() for c in value) or _NAME_LIKE.fullmatch(value):
        return False
    classes = (any(c.islower() for c in value) + any(c.isupper() for c in value) + any(c.isdigit() for c in value)
               + any(not c.isalnum() for c in value))  # fmt: skip
    return classes >= 3 or _high_entropy(value)


@lru_cache(maxsize=1)
def _entropy_plugins() -> tuple[Any, Any]:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

    return Base64HighEntropyString(), HexHighEntropyString()


def _high_entropy(value: str) -> bool:
    b64, hexa = _entropy_plugins()
    plugin = hexa if all(c in "0123456789abcdefABCDEF" for c in value) else b64
    return bool(plugin.calculate_shannon_entropy(value) > plugin.entropy_limit)


# --- the detectors: each takes a line (or the text) and yields (start, end, kind, rank) within it ---

Detector = Callable[[str], Iterator[Finding]]


def _vendor(regex: re.Pattern[str], kind: str) -> Detector:
    """One detect-secrets pattern, its value cut out of the match and documented examples left alone."""
    check = None
    if kind == "jwt":
        from detect_secrets.plugins.jwt import JwtTokenDetector

        check = JwtTokenDetector.is_formally_valid

    def detect(line: str) -> Iterator[Finding]:
        for m in regex.finditer(line):
            start, end = _value_span(line, m)
            if kind == "jwt":
                start, end = _whole_jwt(line, start, end)
            value = line[start:end]
            if not value or (check is not None and not check(value)):
                continue
            if kind == "password":  # a URL's `user:pass@` (a literal: no code reference here), percent-decoded
                plain = unquote(value)
                if len(plain) < 8 or _is_placeholder(plain) or plain == line[m.start() + 3 : start - 1]:
                    continue  # `scott:tiger`, `user:<password>`, `postgres:postgres`
            elif "example" in value.lower() or _low_variety(value):
                continue
            yield Finding(start, end, kind, VENDOR)

    return detect


def _value_span(text: str, m: re.Match[str]) -> tuple[int, int]:
    """Where the value of a plugin's match is: its first group when that group follows some context (`aws...key =
    "(value)"`, `://user:(value)@`), else the whole match (a group at the start is a prefix: `(ghp|gho|...)_...`),
    without the delimiters some patterns include (`(?:\\s|=|:|"|^)AKC...(?:\\s|"|$)`)."""
    start, end = m.span(1) if m.re.groups and m.start(1) > m.start() else m.span()
    while start < end and text[start] in " \t\r\n=:\"'":
        start += 1
    while end > start and text[end - 1] in " \t\r\n\"'":
        end -= 1
    return start, end


def _whole_jwt(text: str, start: int, end: int) -> tuple[int, int]:
    """The plugin's pattern ends lazily (header and payload); the token runs on through its signature."""
    if text[end - 1 : end] != "." and text[end : end + 1] != ".":
        return start, end
    tail = _JWT_TAIL.match(text, end + (text[end : end + 1] == "."))
    return start, tail.end() if tail is not None and tail.end() > end else end


@lru_cache(maxsize=1)
def _keywords() -> tuple[re.Pattern[str], tuple[tuple[re.Pattern[str], int], ...]]:
    """detect-secrets' keyword list (lower case), and its assignment patterns that start with the keyword: quoted
    values in any language first, then config-style bare values (`"value" == password` compares, it assigns
    nothing)."""
    from detect_secrets.plugins import keyword

    quoted = tuple(keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP.items())
    bare = tuple(keyword.CONFIG_DENYLIST_REGEX_TO_GROUP.items())
    regexes = tuple((r, g) for r, g in quoted + tuple(i for i in bare if i not in quoted)
                    if r.pattern.startswith(f"({keyword.DENYLIST_REGEX[1:].split(')')[0]}"))  # fmt: skip
    return re.compile("|".join(keyword.DENYLIST), re.IGNORECASE), regexes


def _assignments(line: str) -> Iterator[Finding]:
    """A literal assigned to a secret-named variable (detect-secrets' keyword patterns, and the same shapes for the
    values they skip: those starting with a symbol), high-entropy strings assigned or passed under a secret name,
    and bearer tokens."""
    from detect_secrets.filters.heuristic import is_indirect_reference

    words, regexes = _keywords()
    first = words.search(line)
    for regex, group in regexes if first is not None else ():
        m = regex.search(line, first.start())  # type: ignore[union-attr]
        if m is None or not m.group(group):
            continue
        start, end = m.span(group)
        quoted = start > 0 and line[start - 1] in "\"'`"
        if not quoted and (cut := _BARE_END.search(line, start, end)) is not None:
            end = cut.start()
        compared = not quoted and ("==" in line[m.start() : start] or "!=" in line[m.start() : start])
        if compared or not _literal(line[start:end], quoted=quoted) or (not quoted and is_indirect_reference(line)):
            continue  # `if password1 != password2:` compares two names; `pw = get_pw(x)` calls
        yield Finding(start, end, _secret_kind(line[m.start() : start]), GENERIC)
        break
    else:
        for m in _QUOTED.finditer(line):
            if _NAME_ASSIGNED.search(line, max(0, m.start() - 80), m.start() + 1) and _literal(m.group(2), quoted=True):
                yield Finding(m.start(2), m.end(2), _secret_kind(line[max(0, m.start() - 40) : m.start()]), GENERIC)
        for m in _BARE.finditer(line):
            config = line[m.start(1) - 1] in "=:"  # `KEY=value`: a config or shell literal, even a single word
            if _literal(m.group(1), quoted=config):
                yield Finding(m.start(1), m.end(1), _secret_kind(line[m.start() : m.start(1)]), GENERIC)
    for plugin in _entropy_plugins():
        for m in plugin.regex.finditer(line):
            value = m.group(2)
            if (plugin.calculate_shannon_entropy(value) > plugin.entropy_limit
                    and _NAME_BEFORE.search(line, max(0, m.start() - 80), m.start() + 1)
                    and not _is_placeholder(value)):  # fmt: skip
                yield Finding(m.start(2), m.end(2), "high_entropy", GENERIC)
    for m in _BEARER.finditer(line):
        if _high_entropy(m.group(1)) and not _is_placeholder(m.group(1)):
            yield Finding(m.start(1), m.end(1), "bearer_token", GENERIC)


def _literal(value: str, *, quoted: bool) -> bool:
    """A value that looks like a chosen secret, not a placeholder or a name: a quoted `"Customer.address_id"` or a
    bare `userPassword1` / `settings.DB_PASSWORD` is a reference."""
    from detect_secrets.filters.heuristic import is_templated_secret

    if not value or is_templated_secret(value) or _is_placeholder(value) or not _strong(value):
        return False
    named = _NAME_PATH.fullmatch(value)
    return not named or (quoted and not any(sep in value for sep in (".", "->", "::")))


def _secret_kind(name: str) -> str:
    return "password" if any(w in name.lower() for w in ("pass", "pwd", "contrase")) else "secret"


@lru_cache(maxsize=1)
def _suffixes() -> Any:
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the bundled list: no network


@lru_cache(maxsize=4096)
def _public_domain(domain: str) -> bool:
    domain = domain.lower()
    if any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS):
        return False
    parts = _suffixes()(domain)
    return bool(parts.suffix and parts.domain)


def _emails(line: str) -> Iterator[Finding]:
    pos = 0
    while (at := line.find("@", pos)) >= 0:  # the pattern runs around each `@` only (local parts: 64 characters)
        m = _EMAIL.search(line, max(pos, at - 64), at + 256)
        if m is None:
            pos = at + 1
            continue
        (start, end), pos = m.span(), m.end()
        if line[max(0, start - 3) : start] == "://":  # `ssh://git@host`: a login in a URL, not an address
            continue
        if line[end : end + 1] == ":" and line[end + 1 : end + 2] not in ("", " ", "\t"):
            continue  # `git@github.com:org/repo.git`: an SSH target
        if _public_domain(m.group(1)):
            yield Finding(start, end, EMAIL, PERSONAL)


def _ipv4(line: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(line):
        value = m.group(0)
        if sum(len(o) == 1 for o in value.split(".")) >= 3 or _NUMBERING_BEFORE.search(line, max(0, m.start() - 12),
                                                                                        m.start()):  # fmt: skip
            continue  # `1.2.3.4`, `2.20.1.1`: a version far more often than an address (1 in 4,000 addresses)
        addr = ipaddress.IPv4Address(value)
        if addr.is_global and not addr.is_multicast:
            yield Finding(m.start(), m.end(), IP_ADDRESS, PERSONAL)


def _ipv6(line: str) -> Iterator[Finding]:
    for m in _IPV6.finditer(line):
        try:
            addr = ipaddress.IPv6Address(m.group(0))
        except ValueError:
            continue
        groups = sum(1 for g in m.group(0).split(":") if g)
        if groups >= 3 and addr in _GLOBAL_UNICAST and addr.is_global and not addr.is_multicast:
            yield Finding(m.start(), m.end(), IP_ADDRESS, PERSONAL)


def _private_keys(text: str) -> Iterator[Finding]:
    """The body of each private key block (BEGIN/END lines kept; `\\n` escapes of a key inside a JSON string too),
    or the private lines of a PuTTY key file."""
    from detect_secrets.plugins.private_key import PrivateKeyDetector

    markers = PrivateKeyDetector.denylist
    for m in _KEY_BLOCK.finditer(text):
        if any(p.search(m.group(0)) for p in markers):
            yield from _body(text, *m.span(2))
    if "PuTTY-User-Key-File" in text:
        for m in _PUTTY.finditer(text):
            end = m.end()
            for _ in range(int(m.group(1))):
                end = text.find("\n", end) + 1 or len(text)
            yield from _body(text, m.end(), end)


def _body(text: str, start: int, end: int) -> Iterator[Finding]:
    if (lead := _EDGE.match(text, start, end)) is not None:
        start = lead.end()
    while end > start and (text[end - 1].isspace() or text[end - 2 : end] in ("\\n", "\\r")):
        end -= 1 if text[end - 1].isspace() else 2
    body = "".join(text[start:end].split())
    if len(body) >= 32 and "..." not in body and "<" not in body and "example" not in body.lower():
        if not _low_variety(body):
            yield Finding(start, end, "private_key", VENDOR)


# --- the prefilter: one Hyperscan database over a superset of every line detector's pattern ---


@dataclass(frozen=True, slots=True)
class _Prefilter:
    database: Any
    detectors: tuple[Detector, ...]
    """By pattern id: what runs on a line the pattern flagged."""
    whole_text: frozenset[int]
    """Pattern ids whose detector reads the whole text (a key block spans lines)."""


_WIDER = {r"[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}": r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}"}
"""Cheaper supersets of plugin patterns that cost Hyperscan most (a leading character class): ~20% of a scan."""


@lru_cache(maxsize=1)
def _prefilter() -> _Prefilter:
    """Each detect-secrets pattern as a Hyperscan expression (in prefilter mode: constructs Hyperscan lacks, such
    as look-arounds, are widened, never narrowed), plus the assignment, e-mail, IP and private-key triggers. Bytes
    are matched as ASCII: a keyword followed by non-ASCII letters (`passwordé = ...`) is not flagged."""
    from importlib import import_module

    import hyperscan

    exprs: list[tuple[str, bool, Detector]] = []
    for module, name, kinds in _PLUGINS:
        plugin: Any = getattr(import_module(f"detect_secrets.plugins.{module}"), name)
        for i, regex in enumerate(plugin.denylist):
            expr = _WIDER.get(regex.pattern, regex.pattern)
            exprs.append((expr, bool(regex.flags & re.IGNORECASE), _vendor(regex, kinds[min(i, len(kinds) - 1)])))
    exprs += [*((a, True, _assignments) for a in _ASSIGNMENTS), (_BEARER.pattern, True, _assignments),
              (r"[\w!#$%&'*+/=?^`{|}~.-]@[A-Za-z0-9-]+\.[A-Za-z0-9]", False, _emails),
              (r"\d\.\d{1,3}\.\d{1,3}\.\d", False, _ipv4), (r"[23][0-9A-Fa-f]{3}:[0-9A-Fa-f]{0,4}:", False, _ipv6),
              (r"PRIVATE KEY|PuTTY-User-Key-File", False, _private_keys)]  # fmt: skip
    db = hyperscan.Database()
    flags = [hyperscan.HS_FLAG_PREFILTER | (hyperscan.HS_FLAG_CASELESS if caseless else 0) for _, caseless, _ in exprs]
    db.compile(expressions=[e.encode() for e, _, _ in exprs], ids=list(range(len(exprs))), elements=len(exprs),
               flags=flags)  # fmt: skip
    return _Prefilter(db, tuple(d for _, _, d in exprs), frozenset({len(exprs) - 1}))


_local = threading.local()


def _scratch(prefilter: _Prefilter) -> Any:
    """Hyperscan's scratch space is per thread (API exports stream from a thread pool)."""
    import hyperscan

    scratch = getattr(_local, "scratch", None)
    if scratch is None:
        scratch = _local.scratch = hyperscan.Scratch(prefilter.database)
    return scratch


def _flagged(data: bytes | memoryview, prefilter: _Prefilter) -> list[tuple[int, int]]:
    """(pattern id, end offset) of each prefilter match in UTF-8 `data`."""
    ends: list[tuple[int, int]] = []
    prefilter.database.scan(data, match_event_handler=lambda pattern, start, end, flags, context:
                            ends.append((pattern, end)), scratch=_scratch(prefilter))  # fmt: skip
    return ends


def find(text: str) -> list[Finding]:
    """The values to replace in `text`, in order, without overlaps (where two overlap the higher rank wins, then
    the longer)."""
    return _find(text.encode("utf-8", "surrogatepass"), text)[0]


def _find(data: bytes | memoryview, text: str | None) -> tuple[list[Finding], str | None]:
    """`find` over the UTF-8 of a text, and the text: decoded from it only when a prefilter matched."""
    prefilter = _prefilter()
    ends = _flagged(data, prefilter)
    if not ends:
        return [], text
    data = bytes(data)
    if text is None:
        text = data.decode("utf-8", "surrogatepass")
    lines: dict[int, set[int]] = {}
    whole = {pattern for pattern, _ in ends if pattern in prefilter.whole_text}
    found = [f for pattern in whole for f in prefilter.detectors[pattern](text)]
    for pattern, end in ends:
        if pattern in whole:
            continue
        at = end - 1 if data[end - 1 : end] != b"\n" else max(end - 2, 0)
        lines.setdefault(data.rfind(b"\n", 0, at) + 1, set()).add(pattern)
    ascii_only = len(data) == len(text)
    char_at = 0
    for start in sorted(lines):
        stop = data.find(b"\n", start)
        stop = len(data) if stop < 0 else stop
        if ascii_only:
            offset, line = start, text[start:stop]
        else:  # the same line in the text: the first whole line equal to it from the previous one on
            line = data[start:stop].decode("utf-8", "surrogatepass")
            if (offset := _line_at(text, line, char_at)) < 0:
                continue
            char_at = offset + len(line)
        detectors = dict.fromkeys(prefilter.detectors[i] for i in sorted(lines[start]))  # one run per detector
        for detect in detectors:
            found += [Finding(f.start + offset, f.end + offset, f.kind, f.rank) for f in detect(line)]
    return _resolve(found), text


def _line_at(text: str, line: str, at: int) -> int:
    """Where `line` stands as a whole line of `text`, from `at` on (-1: nowhere)."""
    while True:
        at = text.find(line, at)
        if at <= 0 or text[at - 1] == "\n":
            return at
        at += 1


def _resolve(found: Iterable[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (-f.rank, f.start - f.end, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str) -> tuple[str, dict[str, int]]:
    """`text` with each secret and personal value replaced by its placeholder, and the count of each kind."""
    found = find(text)
    return (_replaced(text, found), dict(Counter(f.kind for f in found))) if found else (text, {})


def spans(text: str) -> list[tuple[int, int, str]]:
    """`find` as (start, end, kind) triples: what `replace` needs to redact the same text later."""
    return [(f.start, f.end, f.kind) for f in find(text)] if text else []


def replace(text: str, found: Iterable[tuple[int, int, str]]) -> tuple[str, dict[str, int]]:
    """`redact` of a text whose `spans` are known: no scan."""
    findings = [Finding(start, end, kind, 0) for start, end, kind in found]
    return _replaced(text, findings), dict(Counter(f.kind for f in findings))


def _replaced(text: str, found: list[Finding]) -> str:
    parts, at = [], 0
    for f in found:
        parts += [text[at : f.start], placeholder(f.kind)]
        at = f.end
    parts.append(text[at:])
    return "".join(parts)


def redact_utf8(data: bytes | memoryview) -> tuple[str, dict[str, int]] | None:
    """`redact` of a text given as UTF-8 (a slice of an Arrow string column's buffer): None when nothing is to be
    replaced, and then the text is never decoded (most pages: the prefilter finds nothing)."""
    found, text = _find(data, None)
    if not found or text is None:
        return None
    return _replaced(text, found), dict(Counter(f.kind for f in found))
