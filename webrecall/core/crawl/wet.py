"""WET reader: Common Crawl's plain text of each HTML capture, one `WetDoc` per `conversion` record.

A WET file (`crawl-data/<id>/segments/<seg>/wet/<name>.warc.wet.gz`, listed by `wet.paths.gz`) is a WARC file of
`conversion` records, one per HTML response of the WARC file of the same name: the target URI, the capture date,
`WARC-Refers-To` (the record id of that response) and `WARC-Identified-Content-Language`, then the whole page's
text (`webrecall.core.text.wettext` documents the rule). Reading goes through the WARC reader's loop
(`crawl.warc.iter_records`), so a broken record or file ends as the same counted drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from fastwarc.warc import WarcRecord, WarcRecordType

from webrecall.core.crawl.warc import MAX_RECORD_BYTES, StreamBroken, iter_records, read_body, skip, target_uri
from webrecall.core.page import Stats


@dataclass(slots=True)
class WetDoc:
    """One page's plain text as a WET file carries it, and where its record lies in that file."""

    url: str
    wet_path: str
    offset: int
    length: int
    text: str
    refers_to: str
    """`WARC-Refers-To`: the record id of the page's response record in the WARC file."""
    date: str
    """`WARC-Date`: the capture time of that response, as written (`2024-05-18T01:58:10Z`)."""
    languages: str = ""
    """`WARC-Identified-Content-Language` as written (ISO 639-3, most likely first: `eng,deu`)."""


def iter_wet(
    stream: BinaryIO, *, wet_path: str, stats: Stats, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[WetDoc]:
    """Stream the text records of a WET file (gzip per record, as Common Crawl's, or plain); `warcinfo` and any
    other record type are skipped uncounted. Stats: `total` conversion records, `kept`, `dropped_<reason>`."""
    return iter_records(stream, path=wet_path, stats=stats, decide=_doc, max_record_bytes=max_record_bytes,
                        stage="wet")  # fmt: skip


def _doc(record: WarcRecord, *, path: str, offset: int, stats: Stats, max_bytes: int) -> WetDoc | None:
    if not (record.headers.get("Content-Length") or "").strip().isdigit():
        raise StreamBroken("truncated")
    if record.record_type != WarcRecordType.conversion:
        skip(record)
        return None
    stats.incr("total")
    url = target_uri(record)
    reason = "unparseable" if not url else "too_large" if record.content_length > max_bytes else ""
    if reason:
        skip(record)
        stats.drop(reason)
        return None
    body = read_body(record)
    h = record.headers
    return WetDoc(
        url=url, wet_path=path, offset=offset, length=0, text=body.decode("utf-8", "replace"),
        refers_to=(h.get("WARC-Refers-To") or "").strip(), date=(h.get("WARC-Date") or "").strip(),
        languages=(h.get("WARC-Identified-Content-Language") or "").strip(),
    )  # fmt: skip
