"""WARC reader: one `Page` per HTML response, addressed by the stored (compressed) byte range of its record.

fastwarc does the parsing (several times faster than warcio, see bench/warc_readers.py); everything a
broken record or file can do ends up as a counted drop reason, never as an exception.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO, Protocol, TypeVar

import numpy as np
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from webrecall.core.crawl.resync import CHUNK as RESYNC_CHUNK
from webrecall.core.crawl.resync import ReplayStream
from webrecall.core.page import Page, Stats

MAX_RECORD_BYTES = 8 * 1024 * 1024
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DETECT_BYTES = 32 * 1024
MAX_DEPTH = 2_000
"""Deeper markup is dropped (`too_deep`): extractors walk the tree in quadratic time (100,000 nested <div>:
5 minutes in resiliparse); browsers stop nesting at 512 (Chromium's parser)."""
_DEPTH_CHECK_TAGS = 10_000  # pages with fewer '<' cannot be that deep: no scan
_VOID_KEYS = np.array(
    [np.frombuffer(n.encode().ljust(8, b"\0"), dtype=np.uint64)[0]
     for n in "area base br col embed hr img input link meta param source track wbr".split()]
)  # fmt: skip
_ALPHA = np.zeros(256, dtype=bool)
_ALPHA[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)] = True
_UPPER = np.zeros(256, dtype=bool)
_UPPER[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = True
_NAME = _ALPHA.copy()
_NAME[np.frombuffer(b"0123456789:-", dtype=np.uint8)] = True
# WHATWG MIME sniffing: bytes that never occur in text; a payload with them is not a page, whatever it declares
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([a-z0-9_.:+-]{1,40})""", re.I)
# WHATWG: labels that browsers decode with a superset codec.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "ascii": "cp1252", "iso8859-1": "cp1252", "iso8859-9": "cp1254",
    "shift_jis": "cp932", "euc_kr": "cp949", "tis-620": "cp874", "iso8859-11": "cp874", "big5": "big5hkscs",
}  # fmt: skip
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class StreamBroken(Exception):
    """The stream failed mid-record (args[0] is the drop reason): nothing after it can be trusted."""


class _TooLarge(Exception):
    """Decompressed payload exceeds the cap (a gzip bomb or a huge page)."""


def iter_pages(
    stream: BinaryIO, *, warc_path: str, stats: Stats, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Page]:
    """Stream HTML pages of a WARC (gzip, LZ4 or plain); a page is yielded once the next record's offset
    gives its stored length, so offsets/lengths are byte ranges in the file as stored."""
    return iter_records(stream, path=warc_path, stats=stats, decide=_page, max_record_bytes=max_record_bytes)


class Located(Protocol):
    """What a record decision yields: an item that knows its record's stored byte range."""

    offset: int
    length: int


L = TypeVar("L", bound=Located)
Decide = Callable[..., L | None]
"""`decide(record, path=, offset=, stats=, max_bytes=)`: the item a record makes, or None once counted; raises
`StreamBroken` when the stream failed inside the record."""


def iter_records(
    stream: BinaryIO, *, path: str, stats: Stats, decide: Decide[L], max_record_bytes: int = MAX_RECORD_BYTES,
    stage: str = "warc",
) -> Iterator[L]:  # fmt: skip
    """The reading loop every record kind shares (WARC pages here, WET text in `crawl.wet`): each record is
    decided by `decide`, and an item is yielded once the next record's offset gives its stored length. Reading
    time goes to `<stage>_seconds`.

    A corrupt stretch in a per-record gzip file (Common Crawl's) costs only the records in it: reading goes on
    at the next whole gzip member (`resync`), counted as `dropped_corrupt` (records lost) and
    `resync_bytes_skipped`. Memory stays bounded: only the bytes since the current record's start are kept."""
    source = ReplayStream(stream, keep=2 * max_record_bytes + 4 * RESYNC_CHUNK)
    gzipped = source.head(2) == b"\x1f\x8b"
    cap = 4 * max_record_bytes
    start = 0
    while True:
        failure = yield from _run(source, start, path=path, stats=stats, max_bytes=max_record_bytes,
                                  gzipped=gzipped, decide=decide, stage=stage)  # fmt: skip
        if failure is None:
            return
        reason, bad_from, scan_from, lost = failure
        found = source.next_member(scan_from, cap=cap) if gzipped else None
        if found is None:  # nothing whole after it (a file cut short): counted as it failed
            stats.drop(reason)
            return
        start, damaged = found
        for _ in range(max(lost + damaged, 1)):
            stats.drop("corrupt")
        stats.incr("resync_bytes_skipped", start - bad_from)
        source.restart(start)


_Failure = tuple[str, int, int, int]
"""(drop reason, where the bad bytes start, where to look for the next member, records known lost)."""


def _run(
    source: ReplayStream, start: int, *, path: str, stats: Stats, max_bytes: int, gzipped: bool, decide: Decide[L],
    stage: str,
) -> Generator[L, None, _Failure | None]:  # fmt: skip
    """One fastwarc pass from `start` until the end or the first failure (returned, for a resync)."""
    pending: L | None = None
    last_pos = -1
    try:
        records = ArchiveIterator(source, parse_http=False, verify_digests=False)  # type: ignore[arg-type]  # it reads and tells only
    except BaseException as exc:  # noqa: BLE001 - pyo3 panics derive from BaseException
        _reraise_control(exc)
        stats.drop("unparseable")
        return None
    while True:
        done, failure, record = None, None, None
        with stats.timer(stage):
            try:
                record = next(records)
            except StopIteration:
                pass
            except BaseException as exc:  # noqa: BLE001
                _reraise_control(exc)
                failure = _classify(exc)
            if record is not None:
                stats.incr("records")
                pos = record.stream_pos
                if pos <= last_pos:  # whole-file gzip: records share one member and cannot be fetched by range
                    stats.drop("unparseable")
                    return None
                last_pos = pos
                source.mark(pos)
                done, pending = pending, None
                if done is not None:
                    done.length = pos - done.offset
                try:
                    pending = decide(record, path=path, offset=pos, stats=stats, max_bytes=max_bytes)
                except StreamBroken as exc:
                    failure = exc.args[0]
        if done is not None:
            stats.incr("kept")
            yield done
        if record is not None and failure is not None:  # this record is the damaged one
            return failure, last_pos, last_pos + 1, 1
        if record is not None:
            continue
        # the end as fastwarc sees it, or a failure between records: where does the last record end?
        if not gzipped:
            if failure is not None:
                stats.drop(failure)
            elif pending is not None:
                pending.length = source.tell() - pending.offset
                stats.incr("kept")
                yield pending
            return None
        if last_pos < 0:  # nothing read in this pass
            if failure is None and not source.has_data(start):
                return None
            return failure or "unparseable", start, start + 1, 0
        kind, end = source.member(last_pos, cap=4 * max_bytes)
        if kind == "whole":
            if pending is not None:
                pending.length = end - pending.offset
                stats.incr("kept")
                yield pending
            if failure is None and not source.has_data(end):
                return None  # the file ends with its last record
            return failure or "unparseable", end, end, 0
        if pending is not None:  # the page's own member is damaged after all
            return failure or "unparseable", last_pos, last_pos + 1, 1
        if failure is None and source.eof and source.pos >= source.end:
            return None  # a record too big to check again, and fastwarc read the file to its end
        return failure or "unparseable", last_pos, last_pos + 1, 0


def read_page(
    data: bytes, *, warc_path: str, offset: int, stats: Stats | None = None, max_record_bytes: int = MAX_RECORD_BYTES
) -> Page | None:
    """Parse the first record of a byte range fetched from the page index; None if it is no HTML page."""
    stats = stats if stats is not None else Stats()
    try:
        record = next(ArchiveIterator(io.BytesIO(data), parse_http=False, verify_digests=False))
    except StopIteration:
        stats.drop("unparseable")
        return None
    except BaseException as exc:  # noqa: BLE001
        _reraise_control(exc)
        stats.drop(_classify(exc))
        return None
    stats.incr("records")
    try:
        page = _page(record, path=warc_path, offset=offset, stats=stats, max_bytes=max_record_bytes)
    except StreamBroken as exc:
        stats.drop(exc.args[0])
        return None
    if page is not None:
        page.length = len(data)
        stats.incr("kept")
    return page


def _page(record: WarcRecord, *, path: str, offset: int, stats: Stats, max_bytes: int) -> Page | None:
    """Decide one record: a Page (length still unknown), or None after counting why not."""
    if not (record.headers.get("Content-Length") or "").strip().isdigit():
        raise StreamBroken("truncated")  # the stream ended inside the WARC headers
    rtype = record.record_type
    if rtype != WarcRecordType.response:
        skip(record)
        if rtype == WarcRecordType.revisit:
            stats.drop("revisit")
        return None
    stats.incr("total")
    reason = ""
    try:
        record.parse_http(quirks_mode=True)  # LF-only headers (ClueWeb) and bare status lines
        status = record.http_headers.status_code
    except Exception:  # noqa: BLE001
        status = None
    url = target_uri(record)
    ctype = (record.http_content_type or "").lower()
    if status is None or not url:
        reason = "unparseable"
    elif not 200 <= status < 300:
        reason = "http_status"
    elif ctype and ctype not in HTML_TYPES:
        reason = "not_html"
    elif record.content_length > max_bytes:
        reason = "too_large"
    if reason:
        skip(record, check=status is not None)  # a failed HTTP parse leaves the reader mid-payload
        stats.drop(reason)
        return None

    body = read_body(record)
    headers = record.http_headers
    warc_truncated = record.headers.get("WARC-Truncated")
    chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
    declared = (headers.get("Content-Length") or "").strip()
    if not chunked and not warc_truncated and declared.isdigit() and len(body) < int(declared):
        stats.drop("truncated")
        return None
    try:
        if chunked:
            body = _dechunk(body)
        body = _decode_content(body, headers.get("Content-Encoding") or "", cap=max_bytes * 4)
        if not ctype and not _sniff_html(body):
            stats.drop("not_html")
            return None
        if _is_binary(body, record.http_charset):
            stats.drop("not_html")
            return None
        html, charset = decode_html(body, record.http_charset)
        if _too_deep(html):
            stats.drop("too_deep")
            return None
    except _TooLarge:
        stats.drop("too_large")
        return None
    except Exception:  # noqa: BLE001 - a malformed page must never stop a WARC
        stats.drop("unparseable")
        return None
    page = Page(url=url, warc_path=path, offset=offset, length=0, html=html, charset=charset,
                record_id=record.headers.get("WARC-Record-ID") or "", date=record.headers.get("WARC-Date") or "")
    if warc_truncated:  # cut by the crawler on purpose: still a usable page
        page.meta["warc_truncated"] = warc_truncated
    return page


def target_uri(record: WarcRecord) -> str:
    """The record's `WARC-Target-URI` as a URL ('' if none): brackets stripped, spaces escaped."""
    return (record.headers.get("WARC-Target-URI") or "").strip().strip("<>").strip().replace(" ", "%20")


def read_body(record: WarcRecord) -> bytes:
    """The record's whole block; `StreamBroken` when decompression fails or the stream ends inside it."""
    expected = record.content_length
    try:
        body = record.reader.read()
    except Exception as exc:  # noqa: BLE001 - decompression failed inside the record
        raise StreamBroken(_classify(exc)) from exc
    if len(body) < expected:  # the stream ended inside this record
        raise StreamBroken("truncated")
    return body


def decode_html(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode like a browser would: BOM, HTTP charset, <meta> in the first 4 KB, then detection."""
    bom = next((name for mark, name in _BOMS if body.startswith(mark)), None)
    meta = _META_CHARSET.search(body[:4096])
    meta_name = meta.group(1).decode("ascii") if meta else None
    if meta_name and meta_name.lower().startswith("utf-16"):  # a page that can say so in ASCII is not UTF-16
        meta_name = "utf-8"
    for name in (bom, header_charset, meta_name):
        codec = _codec(name)
        if codec:
            try:
                return body.decode(codec, "replace"), codec
            except (LookupError, UnicodeError):  # non-text codecs such as "base64"
                continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:_DETECT_BYTES]).best()
    codec = _codec(best.encoding if best else None) or "cp1252"
    return body.decode(codec, "replace"), codec


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        canonical = codecs.lookup(name.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    return _SUPERSETS.get(canonical, canonical)


def _is_binary(body: bytes, charset: str | None) -> bool:
    """Binary bytes in the first KB (an image or archive served as text/html); UTF-16/32 text has NULs."""
    head = body[:1024]
    if (charset or "").lower().startswith(("utf-16", "utf-32")) or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return _BINARY.search(head) is not None


def _too_deep(html: str, limit: int = MAX_DEPTH) -> bool:
    """Whether open elements nest deeper than `limit`, in vectorised passes over the bytes (~20x faster than a
    regex walk on a 1.5 MB page): `<name` opens unless void or self-closed (`/>`), `</name` closes, and the depth
    is the walk of +1/-1 steps floored at 0 (closers with nothing open are ignored, as browsers do)."""
    if html.count("<") < _DEPTH_CHECK_TAGS:
        return False
    data = np.frombuffer(html.encode("utf-8", "replace"), dtype=np.uint8)
    lt = np.flatnonzero(data[:-2] == 0x3C)  # '<' with two bytes after it
    nxt, nxt2 = data[lt + 1], data[lt + 2]
    is_open = _ALPHA[nxt]
    is_close = (nxt == 0x2F) & _ALPHA[nxt2]
    opens = lt[is_open]
    if len(opens) <= limit:
        return False
    # void elements: the lower-cased name (up to 8 bytes, zero-padded) packed into a uint64, looked up in a set
    heads = data[np.minimum(opens[:, None] + np.arange(1, 9), len(data) - 1)]
    heads = np.where(_UPPER[heads], heads | 0x20, heads)
    inside = np.logical_and.accumulate(_NAME[heads], axis=1)
    void = np.isin(np.ascontiguousarray(heads * inside).view(np.uint64).ravel(), _VOID_KEYS)
    # self-closed: the next '>' after the tag start is preceded by '/'
    gt = np.flatnonzero(data == 0x3E)
    ends = np.searchsorted(gt, opens)
    has_end = ends < len(gt)
    closed = np.zeros(len(opens), dtype=bool)
    closed[has_end] = data[gt[ends[has_end]] - 1] == 0x2F
    steps = np.zeros(len(lt), dtype=np.int64)
    steps[np.flatnonzero(is_open)[~(void | closed)]] = 1
    steps[is_close] = -1
    walk = np.cumsum(steps)
    depth = walk - np.minimum(np.minimum.accumulate(walk), 0)  # the walk reflected at 0 (Skorokhod)
    return bool(depth.max(initial=0) > limit)


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lower()
    return b"<html" in head or b"<!doctype html" in head


def _dechunk(data: bytes) -> bytes:
    """Undo HTTP chunking; data that is not validly chunked is returned as is (as browsers tolerate)."""
    out, pos = bytearray(), 0
    while True:
        eol = data.find(b"\r\n", pos, pos + 1024)
        try:
            size = int(data[pos:eol].split(b";", 1)[0].strip(), 16) if eol >= 0 else -1
        except ValueError:
            size = -1
        if size < 0:
            return bytes(out) if out else data
        if size == 0:
            return bytes(out)
        out += data[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


def _decode_content(data: bytes, encoding: str, *, cap: int) -> bytes:
    """Undo Content-Encoding with an output cap; a payload the crawler already decoded is kept as is."""
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        try:
            if coding in ("gzip", "x-gzip") and data[:2] == b"\x1f\x8b":
                data = _inflate(data, 16 + zlib.MAX_WBITS, cap)
            elif coding == "deflate":
                try:
                    data = _inflate(data, zlib.MAX_WBITS, cap)
                except zlib.error:
                    data = _inflate(data, -zlib.MAX_WBITS, cap)
            elif coding == "br":
                import brotli

                data = brotli.Decompressor().process(data, output_buffer_limit=cap + 1)
                if len(data) > cap:
                    raise _TooLarge
        except _TooLarge:
            raise
        except Exception:  # noqa: BLE001 - not really encoded that way: keep the bytes
            continue
    return data


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    out = zlib.decompressobj(wbits).decompress(data, cap + 1)
    if len(out) > cap:
        raise _TooLarge
    return out


def skip(record: WarcRecord, *, check: bool = True) -> None:
    """Consume an unused record, noticing a stream that ends inside it."""
    expected = record.content_length if check else 0
    try:
        got = record.consume()
    except Exception as exc:  # noqa: BLE001
        raise StreamBroken(_classify(exc)) from exc
    if got < expected:
        raise StreamBroken("truncated")


def _classify(exc: BaseException) -> str:
    text = str(exc).lower()
    ends = ("fill whole buffer", "eof", "end of stream", "truncat", "unexpected end")
    return "truncated" if any(word in text for word in ends) else "unparseable"


def _reraise_control(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit | MemoryError):
        raise exc
