"""Common Crawl's URL index: build it for a local crawl, and look URL patterns up in it.

Common Crawl publishes every capture of a crawl twice: as the columnar index (Parquet under
`cc-index/table/cc-main/warc/crawl=<id>/subset=warc/`, listed by `crawl-data/<id>/cc-index-table.paths.gz`, sorted
by `url_surtkey`) and through the CDX server (`https://index.commoncrawl.org/<id>-index?url=...`). A labelled URL
pattern is a SURT key range (`docs.python.org/3/` -> `org,python,docs)/3/...`), so its captures across the whole
crawl are found by reading only the row groups whose `url_surtkey` statistics overlap that range, by HTTP byte
range, through the same retries and shared rate limit as the WARC reads (`webrecall.core.crawl.http`).

`build_index` writes the same layout and schema for a local Common-Crawl-shaped folder, so tests, the demo and
air-gapped users take the same code path as against Common Crawl.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webrecall.core.errors import FatalError, NotFoundError
from webrecall.core.urls.patterns import Pattern, parse

TABLE_PREFIX = "cc-index/table/cc-main/warc"
CDX_BASE_URL = "https://index.commoncrawl.org/"
HTML_MIMES = ("text/html", "application/xhtml+xml")
TOP = "\U0010ffff"
"""Sorts after every character a SURT key contains: the open end of a prefix range."""

SCHEMA = pa.schema(
    [
        ("url_surtkey", pa.string()), ("url", pa.string()), ("url_host_name", pa.string()),
        ("url_host_tld", pa.string()), ("url_host_2nd_last_part", pa.string()),
        ("url_host_3rd_last_part", pa.string()), ("url_host_4th_last_part", pa.string()),
        ("url_host_5th_last_part", pa.string()), ("url_host_registry_suffix", pa.string()),
        ("url_host_registered_domain", pa.string()), ("url_host_private_suffix", pa.string()),
        ("url_host_private_domain", pa.string()), ("url_host_name_reversed", pa.string()),
        ("url_protocol", pa.string()), ("url_port", pa.int32()), ("url_path", pa.string()),
        ("url_query", pa.string()), ("fetch_time", pa.timestamp("us", tz="UTC")), ("fetch_status", pa.int16()),
        ("fetch_redirect", pa.string()), ("content_digest", pa.string()), ("content_mime_type", pa.string()),
        ("content_mime_detected", pa.string()), ("content_charset", pa.string()),
        ("content_languages", pa.string()), ("content_truncated", pa.string()), ("warc_filename", pa.string()),
        ("warc_record_offset", pa.int32()), ("warc_record_length", pa.int32()), ("warc_segment", pa.string()),
    ]
)  # fmt: skip
"""Common Crawl's public columnar-index schema (the partition columns `crawl` and `subset` live in the path)."""
LOOKUP_COLUMNS = ["url_surtkey", "url", "fetch_time", "fetch_status", "content_mime_type", "content_mime_detected",
                  "content_languages", "warc_filename", "warc_record_offset", "warc_record_length"]  # fmt: skip


# --- SURT keys -----------------------------------------------------------------------------------------------


def surt_key(url: str) -> str:
    """The SURT key Common Crawl writes (`org,python,docs)/3/library/os.html`), with the `surt` package CC uses."""
    import surt

    try:
        return str(surt.surt(url))
    except Exception:  # noqa: BLE001 - a URL surt cannot parse still gets a key (sorted apart)
        return url.lower()


def host_key(host: str) -> str:
    """The host part of a SURT key, without the closing `)`: `docs.python.org` -> `org,python,docs`."""
    key = surt_key(f"http://{host}/")
    return key.split(")", 1)[0]


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Captures whose SURT key lies in one of `spans` (inclusive bounds) and whose URL the pattern matches."""

    pattern: Pattern
    spans: tuple[tuple[str, str], ...]
    cdx_url: str
    """The CDX server query for the same range (`url=` value with `matchType`)."""
    cdx_match: Literal["prefix", "host", "domain"]

    def overlaps(self, lo: str, hi: str) -> bool:
        return any(a <= hi and lo <= b for a, b in self.spans)


_PATH_STOP = re.compile(r"[?#%;&=*]")


def key_range(pattern: str | Pattern) -> KeyRange:
    """The SURT range a pattern's captures lie in; ValueError('not expandable: ...') if it has no literal host.

    The range is a superset (SURT drops `www.`, lower-cases, strips a trailing slash); the pattern's own regex
    decides on each URL. A `%` or `*` before the host's last labels widens the range to the domain under them.
    """
    pat = parse(pattern) if isinstance(pattern, str) else pattern
    text = pat.text
    head, _, path = text.partition("/")
    if not head or "%" in head or "*" in head:
        cut = max(head.rfind("%"), head.rfind("*"))
        tail = head[cut + 1 :] if head else ""
        if "/" not in text and "%" in text and not tail:
            raise ValueError(f"not expandable: {pat.text!r} has no literal host")
        labels = tail.split(".")[1:] if not tail.startswith(".") else tail[1:].split(".")
        labels = [p for p in labels if p]
        if len(labels) < 2 or ":" in tail:
            raise ValueError(f"not expandable: {pat.text!r} has no literal host (at least a domain and its TLD)")
        reg = host_key(".".join(labels))
        return KeyRange(pat, ((reg + ")", reg + "," + TOP),), ".".join(labels), "domain")
    hkey = host_key(head)
    literal = _PATH_STOP.split(path, 1)[0].lower()
    if not literal:  # the host, or a path that starts with a wildcard: the host's whole range
        return KeyRange(pat, ((hkey + ")", hkey + ")" + TOP),), head, "host")
    prefix = f"{hkey})/{literal}"
    spans = [(prefix, prefix + TOP)]
    if literal.endswith("/"):  # SURT strips a directory's trailing slash: `/3/` is keyed `)/3`, `/3/?q` `)/3?q`
        spans = [(prefix[:-1], prefix[:-1]), (prefix[:-1] + "?", prefix[:-1] + "?" + TOP), *spans]
    return KeyRange(pat, tuple(spans), f"{head}/{_PATH_STOP.split(path, 1)[0]}", "prefix")


# --- building the index of a local crawl -------------------------------------------------------------------------


@cache
def _extractors() -> tuple[Any, Any]:
    import tldextract

    # the bundled Public Suffix List snapshot: never fetched at run time
    public = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)
    private = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)
    return public, private


def url_columns(url: str) -> dict[str, Any]:
    """The url_* columns of one capture, as Common Crawl fills them."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    labels = host.split(".") if host else []
    public, private = _extractors()
    pub, priv = public(host), private(host)

    def domain(r: Any) -> str | None:
        return f"{r.domain}.{r.suffix}" if r.domain and r.suffix else None

    try:
        port = parts.port
    except ValueError:
        port = None
    return {
        "url_surtkey": surt_key(url), "url": url, "url_host_name": host,
        "url_host_tld": labels[-1] if labels else None,
        **{f"url_host_{n}_last_part": labels[-i] if len(labels) >= i else None
           for i, n in ((2, "2nd"), (3, "3rd"), (4, "4th"), (5, "5th"))},
        "url_host_registry_suffix": pub.suffix or None, "url_host_registered_domain": domain(pub),
        "url_host_private_suffix": priv.suffix or None, "url_host_private_domain": domain(priv),
        "url_host_name_reversed": ".".join(reversed(labels)) if labels else None,
        "url_protocol": parts.scheme.lower() or None, "url_port": port, "url_path": parts.path or None,
        "url_query": parts.query or None,
    }  # fmt: skip


def _mime_detected(head: bytes, declared: str) -> str:
    from webrecall.core.crawl.warc import _sniff_html

    if _sniff_html(head):
        return "text/html"
    return declared or "application/octet-stream"


def iter_captures(path: str, warc_filename: str, *, languages: bool = True) -> Iterator[dict[str, Any]]:
    """One index row per response (and revisit) record of a local WARC file, with its stored byte range."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from webrecall.core.crawl.warc import _decode_content, decode_html
    from webrecall.core.text.extract import extract
    from webrecall.core.text.lang import guess_lang

    size = os.path.getsize(path)
    segment = warc_filename.split("/segments/", 1)[1].split("/", 1)[0] if "/segments/" in warc_filename else None
    pending: dict[str, Any] | None = None
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, parse_http=False, verify_digests=False):
            pos = record.stream_pos
            if pending is not None:
                pending["warc_record_length"] = pos - pending["warc_record_offset"]
                yield pending
                pending = None
            if record.record_type not in (WarcRecordType.response, WarcRecordType.revisit):
                continue
            url = (record.headers.get("WARC-Target-URI") or "").strip().strip("<>")
            if not url:
                continue
            try:
                record.parse_http(quirks_mode=True)
                status = int(record.http_headers.status_code or 0) or None
            except Exception:  # noqa: BLE001 - counted as an unparseable capture
                status = None
            headers = record.http_headers
            declared = (record.http_content_type or "").lower() if status is not None else ""
            body = record.reader.read() if status is not None else b""
            revisit = record.record_type == WarcRecordType.revisit
            detected = None if revisit or status is None else _mime_detected(body[:4096], declared)
            lang = None
            if languages and status == 200 and detected in HTML_MIMES and body:
                try:
                    html, _ = decode_html(_decode_content(body, headers.get("Content-Encoding") or "",
                                                          cap=64 * 1024 * 1024), record.http_charset)  # fmt: skip
                    lang = iso639_3(guess_lang(extract(html))) or None
                except Exception:  # noqa: BLE001 - a page that does not decode has no language
                    lang = None
            digest = (record.headers.get("WARC-Payload-Digest") or "").split(":", 1)[-1] or None
            date = record.record_date or datetime.now(UTC)
            pending = {
                **url_columns(url), "fetch_time": date if date.tzinfo else date.replace(tzinfo=UTC),
                "fetch_status": status, "fetch_redirect": (headers.get("Location") if headers else None),
                "content_digest": digest, "content_mime_type": declared or None, "content_mime_detected": detected,
                "content_charset": (record.http_charset or None) if status is not None else None,
                "content_languages": lang, "content_truncated": record.headers.get("WARC-Truncated"),
                "warc_filename": warc_filename, "warc_record_offset": pos, "warc_record_length": 0,
                "warc_segment": segment,
            }  # fmt: skip
    if pending is not None:
        pending["warc_record_length"] = size - pending["warc_record_offset"]
        yield pending


def build_index(
    directory: str | Path, output: str | Path, *, crawls: Iterable[str] = (), row_group_rows: int = 50_000,
    file_rows: int = 1_000_000, languages: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Write the columnar index of every crawl under `directory/crawl-data/` (or `crawls`) to `output`.

    Layout as on Common Crawl: `cc-index/table/cc-main/warc/crawl=<id>/subset=warc/part-*.c000.gz.parquet`
    (sorted by url_surtkey, row groups of `row_group_rows` with min/max statistics) and
    `crawl-data/<id>/cc-index-table.paths.gz`. The corpus folder is only read.
    """
    root, out = Path(directory), Path(output)
    if not (root / "crawl-data").is_dir():
        raise FatalError(f"{root} has no crawl-data/ folder: not a Common-Crawl-shaped folder")
    wanted = list(crawls) or sorted(p.name for p in (root / "crawl-data").iterdir() if (p / "warc.paths.gz").exists())
    summary: dict[str, Any] = {}
    for crawl in wanted:
        listing = root / "crawl-data" / crawl / "warc.paths.gz"
        if not listing.exists():
            raise FatalError(f"{listing} not found: not a Common-Crawl-shaped folder for {crawl}")
        names = [n.strip() for n in gzip.decompress(listing.read_bytes()).decode().splitlines() if n.strip()]
        rows = [row for name in names for row in iter_captures(str(root / name), name, languages=languages)]
        table = pa.Table.from_pylist(rows, schema=SCHEMA).sort_by([("url_surtkey", "ascending"),
                                                                   ("fetch_time", "ascending")])  # fmt: skip
        rel_dir = f"{TABLE_PREFIX}/crawl={crawl}/subset=warc"
        target = out / rel_dir
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("part-*.parquet"):
            old.unlink()
        tag = uuid.uuid5(uuid.NAMESPACE_URL, crawl)
        parts = []
        for n, start in enumerate(range(0, max(table.num_rows, 1), file_rows)):
            name = f"part-{n:05d}-{tag}.c000.gz.parquet"
            write_part(table.slice(start, file_rows), target / name, row_group_rows=row_group_rows)
            parts.append(f"{rel_dir}/{name}")
        paths_file = out / "crawl-data" / crawl / "cc-index-table.paths.gz"
        paths_file.parent.mkdir(parents=True, exist_ok=True)
        paths_file.write_bytes(gzip.compress(("\n".join(parts) + "\n").encode(), mtime=0))
        summary[crawl] = {"captures": table.num_rows, "warc_files": len(names), "parts": parts,
                          "row_groups": sum(pq.ParquetFile(out / p).num_row_groups for p in parts)}  # fmt: skip
    return summary


def write_part(table: pa.Table, path: str | Path, *, row_group_rows: int) -> None:
    """One part file, written to a temporary name and renamed (a reader never sees half a file). gzip as Common
    Crawl's (`.gz.parquet`), level 1: 6x faster to write than the default level for 8% more bytes."""
    tmp = f"{path}.tmp"
    pq.write_table(table, tmp, row_group_size=row_group_rows, compression="gzip", compression_level=1,
                   write_statistics=True)  # fmt: skip
    os.replace(tmp, path)


# --- reading: the columnar index by byte range -------------------------------------------------------------------


@dataclass(slots=True)
class IndexStats:
    """What a lookup cost: index bytes read, files and row groups read out of those present."""

    bytes_read: int = 0
    requests: int = 0
    files: int = 0
    row_groups: int = 0
    row_groups_read: int = 0
    per_pattern_groups: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {"index_bytes": self.bytes_read, "index_requests": self.requests, "index_files": self.files,
                "row_groups": self.row_groups, "row_groups_read": self.row_groups_read}  # fmt: skip


class RangeFile(io.RawIOBase):
    """A seekable read-only file over HTTP byte ranges (core.crawl.http: retries, Retry-After, the shared rate
    limit) or a local path, counting every byte it reads. The last 64 KiB come with the first request, so a
    Parquet footer costs one round trip."""

    TAIL = 64 * 1024

    def __init__(self, location: str, stats: IndexStats, *, timeout: float = 60, retries: int = 5) -> None:
        from webrecall.core.crawl import http

        self.location, self._stats, self._timeout, self._retries = location, stats, timeout, retries
        self._pos = 0
        self._http = location.lower().startswith(("http://", "https://"))
        if self._http:

            def tail() -> tuple[int, bytes]:
                with http.request(location, {"Range": f"bytes=-{self.TAIL}"}, timeout) as resp:
                    total = resp.headers.get("Content-Range", "").rpartition("/")[2]
                    data = bytes(resp.raw.read(decode_content=False))
                    return (int(total) if total.isdigit() else len(data)), data

            self._size, self._tail = http.retry(location, retries, tail)
        else:
            if not os.path.isfile(location):
                raise NotFoundError(f"{location} not found")
            self._size = os.path.getsize(location)
            with open(location, "rb") as fh:
                fh.seek(max(self._size - self.TAIL, 0))
                self._tail = fh.read()
        stats.requests += 1
        stats.bytes_read += len(self._tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset if whence == 0 else self._pos + offset if whence == 1 else self._size + offset
        return self._pos

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        from webrecall.core.crawl.sources import read_range

        end = self._size if n is None or n < 0 else min(self._pos + n, self._size)
        if end <= self._pos:
            return b""
        tail_start = self._size - len(self._tail)
        if self._pos >= tail_start:
            data = self._tail[self._pos - tail_start : end - tail_start]
        else:
            if self._http:
                data = read_range(self.location, self._pos, end - self._pos, timeout=self._timeout,
                                  retries=self._retries)  # fmt: skip
            else:
                with open(self.location, "rb") as fh:
                    fh.seek(self._pos)
                    data = fh.read(end - self._pos)
            self._stats.requests += 1
            self._stats.bytes_read += len(data)
        self._pos += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        memoryview(buf).cast("B")[: len(data)] = data
        return len(data)


def _join(base: str, rel: str) -> str:
    if base.lower().startswith(("http://", "https://", "s3://", "gs://")):
        return f"{base.rstrip('/')}/{rel.lstrip('/')}"
    return str(Path(base) / rel)


def index_files(crawl: str, base: str, *, timeout: float = 60, retries: int = 5) -> list[str]:
    """The columnar index's part files of a crawl (subset=warc), from its `cc-index-table.paths.gz`."""
    from webrecall.core.crawl.sources import read_all

    listing = _join(base, f"crawl-data/{crawl}/cc-index-table.paths.gz")
    try:
        raw = read_all(listing, timeout=timeout, retries=retries)
    except NotFoundError:
        raise NotFoundError(f"crawl {crawl} has no columnar index at {base} ({listing} not found)") from None
    names = gzip.decompress(raw).decode("utf-8").split()
    return [_join(base, n) for n in names if "/subset=warc/" in n]


def iso639_3(code: str) -> str:
    """Common Crawl's form of a language (ISO 639-3, `eng`) for our detector's ISO 639-1 code (`en`); a code that
    is already 3 letters, or unknown, is kept as it is."""
    import pycountry

    found = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
    return found.alpha_3 if found is not None else code


def iso639_1(code: str) -> str:
    """Our form (ISO 639-1, `en`) of an index's language, whichever form the index wrote (`eng` or `en`); a
    language without a 2-letter code keeps its 3 letters."""
    import pycountry

    code = code.strip().lower()
    found = pycountry.languages.get(alpha_3=code) if len(code) == 3 else None
    return getattr(found, "alpha_2", None) or code


def index_languages(value: str | None) -> list[str]:
    """`content_languages` (CC: "eng,deu", most likely first; older local indexes: "en") as ISO 639-1 codes."""
    return [iso639_1(c) for c in (value or "").split(",") if c.strip()]


@dataclass(slots=True)
class Capture:
    url: str
    warc: str
    """The WARC file's path relative to the crawl's base URL (`crawl-data/...`), as the index writes it."""
    offset: int
    length: int
    status: int
    mime: str
    fetch_time: str = ""
    languages: str = ""
    """As the index stores it (CC: ISO 639-3, comma-separated); `langs` reads either form."""

    @property
    def langs(self) -> list[str]:
        return index_languages(self.languages)


def _html_ok(status: int | None, mime: str | None, detected: str | None) -> bool:
    return status == 200 and (detected or mime or "").split(";")[0].strip().lower() in HTML_MIMES


def lookup_columnar(
    ranges: list[KeyRange], files: list[str], *, stats: IndexStats, timeout: float = 60, retries: int = 5,
) -> dict[str, list[Capture]]:  # fmt: skip
    """Captures (HTML, status 200) of each range's pattern, reading each file's footer and then only the row
    groups whose url_surtkey min/max can hold one of the ranges, and of those only the columns a capture needs."""
    out: dict[str, list[Capture]] = {r.pattern.text: [] for r in ranges}
    for location in files:
        with RangeFile(location, stats, timeout=timeout, retries=retries) as fh:
            pf = pq.ParquetFile(fh, pre_buffer=True)  # a row group's column chunks in one or two range requests
            md = pf.metadata
            key_col = pf.schema_arrow.get_field_index("url_surtkey")
            stats.files += 1
            stats.row_groups += md.num_row_groups
            wanted: dict[int, list[KeyRange]] = {}
            for g in range(md.num_row_groups):
                st = md.row_group(g).column(key_col).statistics
                if st is None or not st.has_min_max:
                    hits = list(ranges)  # no statistics: the group has to be read
                else:
                    hits = [r for r in ranges if r.overlaps(str(st.min), str(st.max))]
                if hits:
                    wanted[g] = hits
            for g, hits in wanted.items():
                stats.row_groups_read += 1
                for r in hits:
                    stats.per_pattern_groups[r.pattern.text] = stats.per_pattern_groups.get(r.pattern.text, 0) + 1
                table = pf.read_row_group(g, columns=LOOKUP_COLUMNS)
                for r in hits:
                    out[r.pattern.text].extend(_captures(table, r))
    return out


def _captures(table: pa.Table, r: KeyRange) -> Iterator[Capture]:
    keys = table["url_surtkey"]
    mask = None
    for lo, hi in r.spans:
        m = pc.and_(pc.greater_equal(keys, lo), pc.less_equal(keys, hi))
        mask = m if mask is None else pc.or_(mask, m)
    sub = table.filter(mask) if mask is not None else table
    for row in sub.to_pylist():
        if _html_ok(row["fetch_status"], row["content_mime_type"], row["content_mime_detected"]) and \
                r.pattern.matches(row["url"]):  # fmt: skip
            ft = row["fetch_time"]
            yield Capture(url=row["url"], warc=row["warc_filename"], offset=int(row["warc_record_offset"]),
                          length=int(row["warc_record_length"]), status=200,
                          mime=row["content_mime_detected"] or row["content_mime_type"] or "",
                          fetch_time=ft.strftime("%Y%m%d%H%M%S") if ft else "",
                          languages=row["content_languages"] or "")  # fmt: skip


# --- reading: the CDX server API ---------------------------------------------------------------------------------


def lookup_cdx(
    ranges: list[KeyRange], crawl: str, cdx_base: str = CDX_BASE_URL, *, stats: IndexStats, timeout: float = 60,
    retries: int = 5,
) -> dict[str, list[Capture]]:  # fmt: skip
    """The same captures through the CDX server (`<crawl>-index?url=...&output=json`, all pages): for a one-off
    host, no index files to open. A 404 is the server's 'no captures'."""
    from webrecall.core.crawl.sources import read_all

    out: dict[str, list[Capture]] = {}
    for r in ranges:
        base = (f"{cdx_base.rstrip('/')}/{crawl}-index?url={quote(r.cdx_url, safe='/:')}&matchType={r.cdx_match}"
                "&output=json&filter==status:200")  # fmt: skip
        found: list[Capture] = []
        try:
            meta = json.loads(read_all(base + "&showNumPages=true", timeout=timeout, retries=retries))
            pages = int(meta.get("pages", 1)) if isinstance(meta, dict) else 1
            stats.requests += 1
            for page in range(pages):
                body = read_all(f"{base}&page={page}", timeout=timeout, retries=retries)
                stats.requests += 1
                stats.bytes_read += len(body)
                for line in body.decode("utf-8", "replace").splitlines():
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    status = int(row.get("status") or 0)
                    if _html_ok(status, row.get("mime"), row.get("mime-detected")) and r.pattern.matches(row["url"]):
                        found.append(Capture(url=row["url"], warc=row["filename"], offset=int(row["offset"]),
                                             length=int(row["length"]), status=status,
                                             mime=row.get("mime-detected") or row.get("mime") or "",
                                             fetch_time=row.get("timestamp", ""),
                                             languages=row.get("languages", "")))  # fmt: skip
        except NotFoundError:
            pass
        out[r.pattern.text] = found
    return out


Backend = Literal["columnar", "cdx"]


def lookup(
    patterns: Iterable[str], crawl: str, *, backend: Backend = "columnar", index_base: str = "",
    cdx_base: str = CDX_BASE_URL, timeout: float = 60, retries: int = 5,
) -> tuple[dict[str, list[Capture]], dict[str, str], IndexStats]:  # fmt: skip
    """(captures per expandable pattern, reason per pattern that is not expandable, what the lookup read).

    Several captures of one URL (recrawls) keep the latest only."""
    ranges, skipped = [], {}
    for text in patterns:
        try:
            ranges.append(key_range(text))
        except ValueError as exc:
            skipped[text] = str(exc)
    stats = IndexStats()
    if not ranges:
        return {}, skipped, stats
    if backend == "cdx":
        found = lookup_cdx(ranges, crawl, cdx_base, stats=stats, timeout=timeout, retries=retries)
    elif backend == "columnar":
        files = index_files(crawl, index_base, timeout=timeout, retries=retries)
        found = lookup_columnar(ranges, files, stats=stats, timeout=timeout, retries=retries)
    else:
        raise ValueError(f"unknown index backend {backend!r}; valid: columnar, cdx")
    for text, caps in found.items():
        latest: dict[str, Capture] = {}
        for c in sorted(caps, key=lambda c: c.fetch_time):
            latest[c.url] = c
        found[text] = sorted(latest.values(), key=lambda c: (c.warc, c.offset))
    return found, skipped, stats


def crawl_count(pattern: str, crawl: str, *, index_base: str, backend: Backend = "columnar",
                cdx_base: str = CDX_BASE_URL, timeout: float = 60, retries: int = 5) -> int | None:  # fmt: skip
    """HTML pages under a pattern across the whole crawl (for the annotator, beside the sample's count); None if
    the pattern is not expandable or the crawl has no index."""
    try:
        found, skipped, _ = lookup([pattern], crawl, backend=backend, index_base=index_base, cdx_base=cdx_base,
                                   timeout=timeout, retries=retries)  # fmt: skip
    except NotFoundError:
        return None
    return None if pattern in skipped or not found else len(next(iter(found.values())))


# --- reading: where given captures lie (the WET-first scan's candidates) -------------------------------------------


@dataclass(frozen=True, slots=True)
class Wanted:
    """A capture to find: its URL and capture time as the WET record gives them (`2024-05-18T01:58:10Z`)."""

    url: str
    date: str = ""


def _stamp(date: str) -> str:
    """`2024-05-18T01:58:10Z` -> `20240518015810`, the index's timestamp form."""
    return "".join(ch for ch in date if ch.isdigit())[:14]


def _best(caps: list[Capture], want: Wanted, prefer: str) -> Capture | None:
    """The capture of `want` among the URL's captures: the one at its capture time, in `prefer` (the file name of the
    WARC file its WET file was made from) if several; else the one in `prefer`; else the latest."""
    if not caps:
        return None
    stamp = _stamp(want.date)
    return max(caps, key=lambda c: (c.fetch_time == stamp, c.warc.rsplit("/", 1)[-1] == prefer, c.fetch_time))


def find_captures(
    wanted: list[Wanted], crawl: str, *, backend: Backend = "columnar", index_base: str = "", prefer: str = "",
    cdx_base: str = CDX_BASE_URL, stats: IndexStats, timeout: float = 60, retries: int = 5,
) -> dict[str, Capture]:  # fmt: skip
    """Where each wanted capture lies (WARC file relative to the crawl's base, offset, length), by URL; a URL the
    index does not have (or not as an HTML 200 capture) is absent. One call is one batch (a WET file's candidates):
    the columnar index reads only the row groups whose url_surtkey min/max can hold one of the batch's keys, and of
    those only the lookup columns; the CDX backend asks one exact query per URL."""
    by_url: dict[str, list[Capture]] = {w.url: [] for w in wanted}
    if not wanted:
        return {}
    if backend == "cdx":
        from webrecall.core.crawl.sources import read_all

        for w in wanted:
            query = (f"{cdx_base.rstrip('/')}/{crawl}-index?url={quote(w.url, safe='')}&matchType=exact"
                     "&output=json&filter==status:200")  # fmt: skip
            try:
                body = read_all(query, timeout=timeout, retries=retries)
            except NotFoundError:
                stats.requests += 1
                continue
            stats.requests += 1
            stats.bytes_read += len(body)
            for line in body.decode("utf-8", "replace").splitlines():
                row = json.loads(line) if line.strip() else None
                if row and row.get("url") == w.url and _html_ok(int(row.get("status") or 0), row.get("mime"),
                                                                  row.get("mime-detected")):  # fmt: skip
                    by_url[w.url].append(Capture(url=w.url, warc=row["filename"], offset=int(row["offset"]),
                                                 length=int(row["length"]), status=200, mime=row.get("mime") or "",
                                                 fetch_time=row.get("timestamp", "")))  # fmt: skip
    elif backend == "columnar":
        keys = sorted({surt_key(w.url) for w in wanted})
        key_set = pa.array(keys, pa.string())
        for location in index_files(crawl, index_base, timeout=timeout, retries=retries):
            with RangeFile(location, stats, timeout=timeout, retries=retries) as fh:
                pf = pq.ParquetFile(fh, pre_buffer=True)
                md = pf.metadata
                key_col = pf.schema_arrow.get_field_index("url_surtkey")
                stats.files += 1
                stats.row_groups += md.num_row_groups
                for g in range(md.num_row_groups):
                    st = md.row_group(g).column(key_col).statistics
                    if st is not None and st.has_min_max:
                        lo, hi = str(st.min), str(st.max)
                        first = _bisect(keys, lo)
                        if first == len(keys) or keys[first] > hi:
                            continue  # no wanted key in [lo, hi]
                    stats.row_groups_read += 1
                    table = pf.read_row_group(g, columns=LOOKUP_COLUMNS)
                    for row in table.filter(pc.is_in(table["url_surtkey"], value_set=key_set)).to_pylist():
                        if row["url"] in by_url and _html_ok(row["fetch_status"], row["content_mime_type"],
                                                             row["content_mime_detected"]):  # fmt: skip
                            ft = row["fetch_time"]
                            by_url[row["url"]].append(Capture(
                                url=row["url"], warc=row["warc_filename"], offset=int(row["warc_record_offset"]),
                                length=int(row["warc_record_length"]), status=200,
                                mime=row["content_mime_detected"] or row["content_mime_type"] or "",
                                fetch_time=ft.strftime("%Y%m%d%H%M%S") if ft else ""))  # fmt: skip
    else:
        raise ValueError(f"unknown index backend {backend!r}; valid: columnar, cdx")
    out = {}
    for w in wanted:
        best = _best(by_url[w.url], w, prefer)
        if best is not None:
            out[w.url] = best
    return out


def _bisect(keys: list[str], lo: str) -> int:
    import bisect

    return bisect.bisect_left(keys, lo)


@dataclass(frozen=True, slots=True)
class CaptureIndex:
    """A crawl's URL index as the WET-first scan asks it: where a WET file's candidates lie, as absolute locations
    (a capture's WARC file is relative to the crawl's base URL, as Common Crawl's index writes it)."""

    crawl: str
    base_url: str
    backend: Backend = "columnar"
    index_base: str = ""
    """Where the columnar index lives; '' = `base_url`, as on Common Crawl."""
    cdx_base: str = CDX_BASE_URL

    def find(
        self, wanted: list[Wanted], *, prefer: str, stats: IndexStats, timeout: float = 60, retries: int = 5
    ) -> dict[str, tuple[str, int, int]]:
        """url -> (WARC location, offset, length) of each wanted capture the index has; `prefer` is the WARC file the
        WET file was made from (a recrawled URL's capture there wins)."""
        found = find_captures(wanted, self.crawl, backend=self.backend, index_base=self.index_base or self.base_url,
                              prefer=prefer.rsplit("/", 1)[-1], cdx_base=self.cdx_base, stats=stats,
                              timeout=timeout, retries=retries)  # fmt: skip
        return {url: (_join(self.base_url, c.warc), c.offset, c.length) for url, c in found.items()}
