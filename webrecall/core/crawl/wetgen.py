"""WET files for a local crawl: what Common Crawl publishes beside each WARC file, made by the same rule.

`build_wet` writes, for every WARC file a crawl's `warc.paths.gz` lists, its WET file where Common Crawl puts it
(`…/wet/<name>.warc.wet.gz`) and the crawl's `wet.paths.gz`, into an output folder (the corpus folder is only
read); `webrecall mirror --index OUT` serves them as an overlay under the same URLs as on Common Crawl. Records as
Common Crawl writes them, each its own gzip member: one `warcinfo`, then one `conversion` record per HTML page
with text (target URI, the capture's date, `WARC-Refers-To` its response record, the detected language, the
text by `webrecall.core.text.wettext`). A page the WARC reader does not yield, or whose text is empty, gets no
record, as in Common Crawl's. Output is deterministic: record ids are derived from the response record ids.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from webrecall.core.crawl.listing import wet_location
from webrecall.core.crawl.warc import iter_pages
from webrecall.core.errors import FatalError
from webrecall.core.page import Stats

SOFTWARE = "webrecall (whole-page text by Common Crawl's WET rule on resiliparse)"


@dataclass(slots=True)
class WetFile:
    """One written WET file: where, and how many pages it has text for out of the WARC reader's pages."""

    path: str
    records: int
    pages: int
    written: bool
    """False when an up-to-date file (newer than its WARC file) was kept."""


def write_wet(warc: str | Path, out: str | Path, *, crawl: str, stats: Stats | None = None) -> WetFile:
    """Write the WET file of one local WARC file to `out` (a temporary name, then renamed)."""
    from webrecall.core.crawl.ccindex import iso639_3
    from webrecall.core.text.extract import parse
    from webrecall.core.text.lang import guess_lang
    from webrecall.core.text.wettext import whole_text

    stats = stats if stats is not None else Stats()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    records = pages = 0
    with open(warc, "rb") as src, open(tmp, "wb") as dst:
        for page in iter_pages(src, warc_path=str(warc), stats=stats):
            if not records:
                info = (f"Software-Info: {SOFTWARE}\r\nExtracted-Date: {page.date}\r\nisPartOf: {crawl}\r\n"
                        "description: plain text of each HTML page\r\n\r\n").encode()  # fmt: skip
                dst.write(_member("warcinfo", [("WARC-Date", page.date), ("WARC-Filename", out.name),
                                               ("WARC-Record-ID", _record_id(out.name)),
                                               ("Content-Type", "application/warc-fields")], info))  # fmt: skip
                records = 1
            pages += 1
            with stats.timer("wet_text"):
                text = whole_text(parse(page.html))
            if not text.strip():
                stats.incr("wet_empty")
                continue
            body = text.encode("utf-8")
            digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()  # noqa: S324 - WARC's digest
            lang = iso639_3(guess_lang(text))
            headers = [("WARC-Target-URI", page.url), ("WARC-Date", page.date),
                       ("WARC-Record-ID", _record_id(f"{out.name} {page.record_id}")),
                       ("WARC-Refers-To", page.record_id), ("WARC-Block-Digest", digest),
                       *([("WARC-Identified-Content-Language", lang)] if lang else []),
                       ("Content-Type", "text/plain")]  # fmt: skip
            dst.write(_member("conversion", headers, body, payload_digest=digest))
            records += 1
            stats.incr("wet_records")
    os.replace(tmp, out)
    return WetFile(path=str(out), records=max(records - 1, 0), pages=pages, written=True)


def build_wet(
    directory: str | Path, output: str | Path, *, crawls: list[str] | None = None, limit: int | None = None
) -> dict[str, dict]:
    """WET files and `wet.paths.gz` of every crawl under `directory/crawl-data/` (or `crawls`), into `output`; with
    `limit`, of the first `limit` WARC files of each (the listing then names those only).

    A WET file newer than its WARC file is kept as it is, so a second build (the bench's, the demo's) is cheap."""
    root, dest = Path(directory), Path(output)
    if not (root / "crawl-data").is_dir():
        raise FatalError(f"{root} has no crawl-data/ folder: not a Common-Crawl-shaped folder")
    wanted = crawls or sorted(p.name for p in (root / "crawl-data").iterdir() if (p / "warc.paths.gz").exists())
    summary: dict[str, dict] = {}
    for crawl in wanted:
        listing = root / "crawl-data" / crawl / "warc.paths.gz"
        if not listing.exists():
            raise FatalError(f"{listing} not found: not a Common-Crawl-shaped folder for {crawl}")
        names = [n.strip() for n in gzip.decompress(listing.read_bytes()).decode().splitlines() if n.strip()]
        names = names[:limit] if limit is not None else names
        files: list[WetFile] = []
        for name in names:
            src, target = root / name, dest / wet_location(name)
            if target.exists() and target.stat().st_mtime >= src.stat().st_mtime:
                files.append(WetFile(path=str(target), records=-1, pages=-1, written=False))
                continue
            files.append(write_wet(src, target, crawl=crawl))
        paths = dest / "crawl-data" / crawl / "wet.paths.gz"
        paths.parent.mkdir(parents=True, exist_ok=True)
        tmp = paths.with_name(paths.name + ".tmp")
        tmp.write_bytes(gzip.compress(("\n".join(wet_location(n) for n in names) + "\n").encode(), mtime=0))
        os.replace(tmp, paths)
        summary[crawl] = {"wet_files": len(files), "written": sum(f.written for f in files),
                          "records": sum(f.records for f in files if f.written)}  # fmt: skip
    return summary


def _record_id(key: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}>"


def _member(kind: str, headers: list[tuple[str, str]], body: bytes, *, payload_digest: str = "") -> bytes:
    """One record as its own gzip member, its headers in Common Crawl's order."""
    lines = [("WARC-Type", kind), *headers, ("Content-Length", str(len(body)))]
    if payload_digest:
        lines.append(("WARC-Payload-Digest", payload_digest))
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"
    return gzip.compress(head.encode("utf-8") + body + b"\r\n\r\n", compresslevel=6, mtime=0)
