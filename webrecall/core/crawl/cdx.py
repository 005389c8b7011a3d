"""The CDX server API over a local columnar index, as `index.commoncrawl.org/<crawl>-index` answers it.

Supported: `url` (with a trailing `*` for a prefix, a leading `*.` for a domain), `matchType`
(exact, prefix, host, domain), `filter` (`[!][=|~]field:value`, repeatable: `=` exact, `~` contains, else a
regex, as in pywb), `fl`, `limit`, `output=json`
(NDJSON; otherwise CDXJ lines `urlkey timestamp {json}`), `showNumPages`, `page`, `pageSize`. Like Common
Crawl's server, a query without captures is a 404 with a message, and values are strings.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webrecall.core.crawl.ccindex import TOP, host_key, surt_key

PAGE_SIZE = 1000
"""Captures per page (Common Crawl pages by 5 blocks of 3,000 lines; one page size is all a client needs)."""
_FIELDS = {
    "urlkey": "url_surtkey", "url": "url", "mime": "content_mime_type", "mime-detected": "content_mime_detected",
    "status": "fetch_status", "digest": "content_digest", "length": "warc_record_length",
    "offset": "warc_record_offset", "filename": "warc_filename", "languages": "content_languages",
    "encoding": "content_charset", "redirect": "fetch_redirect", "truncated": "content_truncated",
}  # fmt: skip
_ORDER = ["urlkey", "timestamp", "url", "mime", "mime-detected", "status", "digest", "length", "offset",
          "filename", "languages", "encoding", "redirect", "truncated"]  # fmt: skip
_FILTER = re.compile(r"^(!?)([=~]?)([a-z-]+):(.*)$", re.DOTALL)


def _part_files(crawl: str, roots: list[str]) -> list[str] | None:
    for root in roots:
        listing = os.path.join(root, "crawl-data", crawl, "cc-index-table.paths.gz")
        if os.path.isfile(listing):
            with open(listing, "rb") as fh:
                names = gzip.decompress(fh.read()).decode().split()
            out = []
            for name in (n for n in names if "/subset=warc/" in n):
                found = next((os.path.join(r, name) for r in roots if os.path.isfile(os.path.join(r, name))), None)
                if found:
                    out.append(found)
            return out
    return None


def spans_for(url: str, match_type: str) -> list[tuple[str, str]]:
    """The SURT key range of a CDX query, as pywb computes it."""
    if url.endswith("*") and match_type == "exact":
        url, match_type = url[:-1], "prefix"
    if url.startswith("*.") and match_type == "exact":
        url, match_type = url[2:], "domain"
    full = url if "://" in url else f"http://{url}"
    host = (urlsplit(full).hostname or "").lower()
    if match_type == "exact":
        key = surt_key(full)
        return [(key, key)]
    if match_type == "prefix":
        key = surt_key(full)
        return [(key, key + TOP)]
    hk = host_key(host)
    if match_type == "host":
        return [(hk + ")", hk + ")" + TOP)]
    if match_type == "domain":
        return [(hk + ")", hk + "," + TOP)]
    raise ValueError(f"unknown matchType {match_type!r}; valid: exact, prefix, host, domain")


def _rows(files: list[str], spans: list[tuple[str, str]]) -> list[dict[str, Any]]:
    columns = ["url_surtkey", "fetch_time", *sorted(set(_FIELDS.values()) - {"url_surtkey"})]
    out: list[dict[str, Any]] = []
    for path in files:
        pf = pq.ParquetFile(path)
        key_col = pf.schema_arrow.get_field_index("url_surtkey")
        for g in range(pf.metadata.num_row_groups):
            st = pf.metadata.row_group(g).column(key_col).statistics
            if st is not None and st.has_min_max and not any(a <= str(st.max) and str(st.min) <= b for a, b in spans):
                continue
            table = pf.read_row_group(g, columns=columns)
            mask = None
            for lo, hi in spans:
                m = pc.and_(pc.greater_equal(table["url_surtkey"], lo), pc.less_equal(table["url_surtkey"], hi))
                mask = m if mask is None else pc.or_(mask, m)
            out.extend(_cdx(row) for row in table.filter(mask if mask is not None else pa.scalar(True)).to_pylist())
    return out


def _cdx(row: dict[str, Any]) -> dict[str, str]:
    out = {name: str(row[col]) for name, col in _FIELDS.items() if row.get(col) is not None}
    out["timestamp"] = row["fetch_time"].strftime("%Y%m%d%H%M%S") if row.get("fetch_time") else ""
    return {k: out[k] for k in _ORDER if k in out}


def _keep(row: dict[str, str], filters: list[tuple[bool, str, str, str]]) -> bool:
    for negate, op, name, value in filters:
        have = row.get(name, "")
        hit = value in have if op == "~" else have == value if op == "=" else re.search(value, have) is not None
        if hit == negate:
            return False
    return True


def answer(crawl: str, query: str, *, roots: list[str]) -> tuple[int, str, bytes]:
    """(HTTP status, content type, body) of one CDX API request."""
    params = parse_qs(query, keep_blank_values=True)

    def one(name: str, default: str = "") -> str:
        return params.get(name, [default])[0]

    def error(status: int, message: str) -> tuple[int, str, bytes]:
        return status, "application/json", json.dumps({"message": message}).encode()

    files = _part_files(crawl, roots)
    if files is None:
        return error(404, f"collection {crawl}-index not found")
    url = one("url").strip()
    if not url:
        return error(400, "the url parameter is required")
    try:
        spans = spans_for(url, one("matchType", "exact"))
        filters = []
        for f in params.get("filter", []):
            m = _FILTER.match(f)
            if not m:
                raise ValueError(f"bad filter {f!r}: expected [!][=|~]field:value")
            filters.append((m.group(1) == "!", m.group(2), m.group(3), m.group(4)))
        limit = int(one("limit", "0") or 0)
        page_size = int(one("pageSize", str(PAGE_SIZE)) or PAGE_SIZE)
        page = int(one("page", "0") or 0)
    except (ValueError, re.error) as exc:
        return error(400, str(exc))
    rows = [r for r in _rows(files, spans) if _keep(r, filters)]
    if one("showNumPages") == "true":
        pages = max(math.ceil(len(rows) / page_size), 1) if rows else 0
        return 200, "application/json", json.dumps({"pages": pages, "pageSize": page_size, "blocks": pages}).encode()
    rows = rows[page * page_size : (page + 1) * page_size]
    if limit > 0:
        rows = rows[:limit]
    if not rows:
        return error(404, f"No Captures found for: {url}")
    fl = [f for f in one("fl").split(",") if f]
    if fl:
        rows = [{k: r[k] for k in fl if k in r} for r in rows]
    if one("output") == "json":
        body = "".join(json.dumps(r) + "\n" for r in rows)
        return 200, "text/x-ndjson", body.encode()
    lines = [f"{r.get('urlkey', '')} {r.get('timestamp', '')} {json.dumps(r)}\n" for r in rows]
    return 200, "text/x-cdxj", "".join(lines).encode()
