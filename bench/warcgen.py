"""A full-size WARC file in Common Crawl's record layout, made from the corpus's real pages.

The layout is the corpus's (and Common Crawl's): one `warcinfo` record, then `request`, `response` and `metadata`
per page, each record its own gzip member. The HTML of every page is a real page's, byte for byte (its response
block is copied whole); only the target URI changes: copy 0 of a page keeps its URL, copy k > 0 moves it to another
host (`docs.python.org` -> `docs.python-7c.org`), chosen from the copy number and a hash of the path, so one
documentation site of 300 pages becomes a few dozen hosts of a handful of pages, as a sampled crawl file holds them.
Pages are written in a seeded shuffle, one pass over the source pages per copy, until the file reaches both
`min_pages` and `min_bytes`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fastwarc.warc import ArchiveIterator, WarcRecordType

HOSTS_PER_COPY = 8
"""Hosts one source host is spread over in each copy: a crawl file holds few pages of any one host."""
START = datetime(2024, 5, 18, tzinfo=UTC)


@dataclass(slots=True)
class Source:
    """One real page: its URL and the response and metadata blocks as stored (HTTP headers + HTML)."""

    url: str
    response: bytes
    metadata: bytes


@dataclass(slots=True)
class Written:
    """What `write_warc` wrote: the page URLs in file order, records, stored bytes, copies begun."""

    urls: list[str] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    copies: int = 0


def read_sources(warcs: Iterable[Path]) -> list[Source]:
    """The response records of `warcs`, once per URL (the first file that has a URL wins), with their metadata."""
    seen: dict[str, Source] = {}
    for path in warcs:
        with open(path, "rb") as f:
            last: Source | None = None
            for rec in ArchiveIterator(f, parse_http=False):
                url = rec.headers.get("WARC-Target-URI") or ""
                if rec.record_type == WarcRecordType.response:
                    last = Source(url, rec.reader.read(), b"") if url not in seen else None
                    if last is not None:
                        seen[url] = last
                elif rec.record_type == WarcRecordType.metadata and last is not None and last.url == url:
                    last.metadata = rec.reader.read()
                else:
                    rec.reader.consume()
    return list(seen.values())


def variant_url(url: str, copy: int) -> str:
    """The URL of copy `copy` of a page: the same path on another host (copy 0: the page's own URL)."""
    if copy == 0:
        return url
    from webrecall.core.urls.domains import registered_domain

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    site = registered_domain(host)
    name, _, suffix = site.partition(".")
    spread = zlib.crc32(parts.path.encode()) % HOSTS_PER_COPY
    tag = f"{name}-{copy}{chr(ord('a') + spread)}"
    new_host = host[: len(host) - len(site)] + f"{tag}.{suffix}" if suffix else f"{host}-{copy}{chr(97 + spread)}"
    netloc = new_host if parts.port is None else f"{new_host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _record_id(*key: str) -> str:
    return f"<urn:uuid:{uuid.UUID(bytes=hashlib.sha1('|'.join(key).encode()).digest()[:16])}>"


def _member(headers: list[tuple[str, str]], block: bytes) -> bytes:
    """One WARC record as its own gzip member (what makes each record fetchable by byte range)."""
    head = "".join(f"{k}: {v}\r\n" for k, v in [*headers, ("Content-Length", str(len(block)))])
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    raw = b"WARC/1.0\r\n" + head.encode("utf-8") + b"\r\n" + block + b"\r\n\r\n"
    return compressor.compress(raw) + compressor.flush()


def _page_members(src: Source, url: str, when: datetime, info_id: str) -> Iterator[bytes]:
    parts = urlsplit(url)
    date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nUser-Agent: webrecall-bench/1.0 (CCBot-like generated file)\r\n"
               "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
               f"Accept-Encoding: br,gzip\r\nHost: {parts.netloc}\r\nConnection: Keep-Alive\r\n\r\n").encode()
    req_id, resp_id = _record_id("request", url), _record_id("response", url)
    payload = src.response.split(b"\r\n\r\n", 1)[-1]
    common = [("WARC-Date", date)]
    yield _member([("WARC-Type", "request"), *common, ("WARC-Record-ID", req_id), ("WARC-Warcinfo-ID", info_id),
                   ("WARC-Target-URI", url), ("WARC-Payload-Digest", _digest(b"")),
                   ("WARC-Block-Digest", _digest(request)),
                   ("Content-Type", "application/http; msgtype=request")], request)  # fmt: skip
    yield _member([("WARC-Type", "response"), *common, ("WARC-Record-ID", resp_id), ("WARC-Warcinfo-ID", info_id),
                   ("WARC-Concurrent-To", req_id), ("WARC-Target-URI", url),
                   ("WARC-Payload-Digest", _digest(payload)), ("WARC-Block-Digest", _digest(src.response)),
                   ("WARC-Identified-Payload-Type", "text/html"),
                   ("Content-Type", "application/http; msgtype=response")], src.response)  # fmt: skip
    meta = src.metadata or b"fetchTimeMs: 100\r\n"
    yield _member([("WARC-Type", "metadata"), *common, ("WARC-Record-ID", _record_id("metadata", url)),
                   ("WARC-Warcinfo-ID", info_id), ("WARC-Concurrent-To", resp_id), ("WARC-Target-URI", url),
                   ("WARC-Payload-Digest", _digest(meta)), ("WARC-Block-Digest", _digest(meta)),
                   ("Content-Type", "application/warc-fields")], meta)  # fmt: skip


def write_warc(path: Path, sources: list[Source], *, crawl: str, min_pages: int, min_bytes: int = 0,
               seed: int = 0) -> Written:  # fmt: skip
    """Write `path` (temp file + rename): copies of `sources` until both minimums are reached."""
    if not sources:
        raise ValueError("no source pages")
    out = Written()
    info_id = _record_id("warcinfo", path.name)
    info = (f"isPartOf: {crawl}\r\npublisher: webrecall bench (not Common Crawl)\r\n"
            "description: real HTML pages under generated URLs, wrapped Common-Crawl-style\r\n"
            "format: WARC File Format 1.0\r\nsoftware: bench/warcgen.py\r\n").encode()  # fmt: skip
    rng = random.Random(seed)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as f:
        member = _member([("WARC-Type", "warcinfo"), ("WARC-Record-ID", info_id), ("WARC-Filename", path.name),
                          ("WARC-Date", START.strftime("%Y-%m-%dT%H:%M:%SZ")), ("WARC-Block-Digest", _digest(info)),
                          ("Content-Type", "application/warc-fields")], info)  # fmt: skip
        f.write(member)
        out.records, out.bytes = 1, len(member)
        while len(out.urls) < min_pages or out.bytes < min_bytes:
            order = list(range(len(sources)))
            rng.shuffle(order)
            for i in order:
                if len(out.urls) >= min_pages and out.bytes >= min_bytes:
                    break
                url = variant_url(sources[i].url, out.copies)
                when = START + timedelta(seconds=7 * (len(out.urls) + 1))
                for member in _page_members(sources[i], url, when, info_id):
                    f.write(member)
                    out.records, out.bytes = out.records + 1, out.bytes + len(member)
                out.urls.append(url)
            out.copies += 1
    tmp.replace(path)
    return out


def write_crawl(root: Path, sources: list[Source], *, crawl: str, min_pages: int, min_bytes: int = 0,
                seed: int = 0) -> tuple[str, Written]:  # fmt: skip
    """One WARC file under `root` laid out as Common Crawl's (`crawl-data/<crawl>/warc.paths.gz` lists it), and
    the page URLs beside it (`<crawl>.urls.gz`); returns the file's path relative to `root`."""
    rel = f"crawl-data/{crawl}/segments/1716000000000.0/warc/{crawl}-00000.warc.gz"
    written = write_warc(root / rel, sources, crawl=crawl, min_pages=min_pages, min_bytes=min_bytes, seed=seed)
    (root / f"crawl-data/{crawl}/warc.paths.gz").write_bytes(gzip.compress(f"{rel}\n".encode(), mtime=0))
    (root / f"{crawl}.urls.gz").write_bytes(gzip.compress("\n".join(written.urls).encode() + b"\n", mtime=0))
    return rel, written
