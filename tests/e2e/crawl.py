"""A Common-Crawl-shaped folder for the fault rounds: real pages, a truncated WARC and a WARC of hostile pages.

`CC-MAIN-E2E` lists three WARC files: CC-MAIN-DEV-00000 as it is, a WARC we write with warcio (a few real
pages copied byte for byte from CC-MAIN-DEV-00002 next to the hostile ones below), and CC-MAIN-DEV-00001
cut in the middle of a record.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.conftest import CORPUS

CRAWL = "CC-MAIN-E2E"
SEGMENT = f"crawl-data/{CRAWL}/segments/1716000000000.0/warc"
DEV = CORPUS / "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc"
GOOD_FROM = "CC-MAIN-DEV-00002.warc.gz"
GOOD_PAGES = 12  # docs.python.org pages (recalled by a round seeded with them) ...
OTHER_PAGES = 8  # ... and pages of other sites
TRUNCATE_AT = 0.6  # CC-MAIN-DEV-00001 is cut at 60% of its bytes

# name -> (what the reader must count it as, in the round's errors), see docs/reliability.md
HOSTILE = {
    "https://e2e.invalid/huge.html": "too_large",  # a 50 MB HTML page (over the 8 MB record cap)
    "https://e2e.invalid/gzip-bomb.html": "too_large",  # 200 MB of zeros, gzip Content-Encoding, ~200 KB stored
    "https://e2e.invalid/nested.html": "too_deep",  # 100,000 nested <div> (5 min in resiliparse before the fix)
    "https://e2e.invalid/invalid-utf8.html": None,  # declared utf-8, invalid bytes: decoded with U+FFFD, a page
    "https://e2e.invalid/binary.html": "not_html",  # a PNG payload declared text/html (was a garbage page)
}


def _good_records() -> tuple[bytes, list[str], list[str]]:
    """Raw gzip members of real pages (a WARC is a concatenation of members, so they can be copied)."""
    good, other, blob = [], [], bytearray()
    wanted = f"crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/{GOOD_FROM}"
    with open(CORPUS / "labels/CC-MAIN-DEV.jsonl", encoding="utf-8") as fh, open(DEV / GOOD_FROM, "rb") as warc:
        for line in fh:
            row = json.loads(line)
            if row["warc"] != wanted:
                continue
            is_good = "docs.python.org/" in row["url"]
            bucket, cap = (good, GOOD_PAGES) if is_good else (other, OTHER_PAGES)
            if len(bucket) >= cap or (not is_good and row["label"] != "non-code"):
                continue
            warc.seek(row["offset"])
            blob += warc.read(row["length"])
            bucket.append(row["url"])
    return bytes(blob), good, other


def _response(writer: WARCWriter, url: str, body: bytes, headers: list[tuple[str, str]]) -> None:
    http = StatusAndHeaders("200 OK", [*headers, ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))


def hostile_warc(path: Path) -> dict[str, list[str]]:
    """Write the hostile WARC; returns the URLs of the real pages in it ({'good': [...], 'other': [...]})."""
    good_blob, good, other = _good_records()
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    html = [("Content-Type", "text/html; charset=utf-8")]
    filler = b"<p>" + b"lorem ipsum dolor sit amet " * 40 + b"</p>\n"
    huge = b"<!doctype html><html><body>" + filler * (50 * 1024 * 1024 // len(filler) + 1) + b"</body></html>"
    _response(writer, "https://e2e.invalid/huge.html", huge, html)
    del huge
    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    packed = b"".join(bomb.compress(zeros) for _ in range(200)) + bomb.flush()
    _response(writer, "https://e2e.invalid/gzip-bomb.html", packed, [*html, ("Content-Encoding", "gzip")])
    nested = b"<!doctype html><html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"
    _response(writer, "https://e2e.invalid/nested.html", nested, html)
    invalid = (b"<!doctype html><html><head><title>caf\xe9</title></head><body><p>na\xefve \xff\xfe \xc3\x28 "
               b"text</p></body></html>")  # fmt: skip
    _response(writer, "https://e2e.invalid/invalid-utf8.html", invalid, html)
    binary = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64 * 1024)
    _response(writer, "https://e2e.invalid/binary.html", binary, html)
    path.write_bytes(good_blob + buf.getvalue())
    return {"good": good, "other": other}


def build(root: Path) -> dict[str, object]:
    """Lay out CC-MAIN-E2E under `root`; returns what the tests check against."""
    seg = root / SEGMENT
    seg.mkdir(parents=True, exist_ok=True)
    (seg / "CC-MAIN-DEV-00000.warc.gz").symlink_to(DEV / "CC-MAIN-DEV-00000.warc.gz")
    pages = hostile_warc(seg / "CC-MAIN-E2E-hostile.warc.gz")
    whole = (DEV / "CC-MAIN-DEV-00001.warc.gz").read_bytes()
    (seg / "CC-MAIN-E2E-truncated.warc.gz").write_bytes(whole[: int(len(whole) * TRUNCATE_AT)])
    names = ["CC-MAIN-DEV-00000.warc.gz", "CC-MAIN-E2E-hostile.warc.gz", "CC-MAIN-E2E-truncated.warc.gz"]
    with gzip.open(root / f"crawl-data/{CRAWL}/warc.paths.gz", "wt") as fh:
        fh.write("".join(f"{SEGMENT}/{n}\n" for n in names))
    return {"crawl": CRAWL, "root": root, **pages}
