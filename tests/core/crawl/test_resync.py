"""A corrupt stretch in the middle of a per-record gzip WARC costs only the records in it (a copy of a real DEV
file, corrupted in tmp_path), from a file and over HTTP; memory stays bounded over a long corrupt stretch."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator

from tests.conftest import CORPUS, serve
from webrecall.core.crawl.resync import CHUNK, ReplayStream
from webrecall.core.crawl.sources import open_stream
from webrecall.core.crawl.warc import iter_pages
from webrecall.core.page import Stats

DEV = CORPUS / "crawl-data" / "CC-MAIN-DEV" / "segments" / "1716000000000.0" / "warc" / "CC-MAIN-DEV-00001.warc.gz"


def _members(data: bytes) -> list[tuple[int, int, str]]:
    """(offset, length, type) of every record of an intact file: one gzip member each."""
    starts = [(r.stream_pos, str(r.record_type)) for r in ArchiveIterator(io.BytesIO(data), parse_http=False)]
    ends = [s for s, _ in starts[1:]] + [len(data)]
    return [(s, e - s, t) for (s, t), e in zip(starts, ends, strict=True)]


def _read(stream) -> tuple[list[tuple[str, int, int]], Stats]:  # type: ignore[no-untyped-def]
    stats = Stats()
    pages = [(p.url, p.offset, p.length) for p in iter_pages(stream, warc_path="w", stats=stats)]
    return pages, stats


def _corrupt(data: bytes, at: int, n: int = 2048, seed: int = 0) -> bytes:
    out = bytearray(data)
    out[at : at + n] = random.Random(seed).randbytes(n)
    return bytes(out)


@pytest.fixture(scope="module")
def intact() -> tuple[bytes, list[tuple[int, int, str]], list[tuple[str, int, int]]]:
    data = DEV.read_bytes()
    pages, stats = _read(io.BytesIO(data))
    assert stats["records"] == len(_members(data)) and stats["kept"] == len(pages) == 500
    return data, _members(data), pages


def test_two_kb_corrupt_in_one_record_costs_that_record_only(intact, tmp_path: Path) -> None:
    data, members, pages = intact
    middle = [m for m in members if m[2].endswith("response") and m[1] > 6000 and m[0] > len(data) // 2]
    offset, length, _ = middle[0]
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(_corrupt(data, offset + 1000))
    expected = [p for p in pages if p[1] != offset]
    assert len(expected) == len(pages) - 1

    with broken.open("rb") as f:
        got, stats = _read(f)
    assert got == expected  # every other page, at its own offset and length
    assert stats["records"] == len(members) - 1
    assert (stats["dropped_corrupt"], stats["resync_bytes_skipped"]) == (1, length)

    server = serve(tmp_path)  # the index pass streams over HTTP, which cannot seek back
    try:
        with open_stream(f"{server.url}broken.warc.gz", timeout=10, retries=0) as stream:
            over_http, http_stats = _read(stream)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert over_http == expected and http_stats.errors() == stats.errors() == {"corrupt": 1}
    assert http_stats["resync_bytes_skipped"] == length


def test_a_stretch_over_several_records_skips_exactly_their_bytes(intact) -> None:
    data, members, pages = intact
    # from inside a response to past the small request/metadata members after it
    offset, length, _ = next(m for m in members if m[2].endswith("response") and m[0] > len(data) // 3)
    at = offset + length - 300
    hit = [m for m in members if m[0] < at + 2048 and m[0] + m[1] > at]
    assert len(hit) >= 2
    got, stats = _read(io.BytesIO(_corrupt(data, at, seed=1)))
    assert got == [p for p in pages if p[1] not in {m[0] for m in hit}]
    assert stats["resync_bytes_skipped"] == sum(m[1] for m in hit)
    assert stats["records"] == len(members) - len(hit)
    # records whose gzip header the garbage overwrote cannot be seen: the count is the ones that could
    assert 1 <= stats["dropped_corrupt"] <= len(hit)


def test_a_file_cut_short_is_still_counted_as_truncated(intact) -> None:
    data, members, pages = intact
    offset, length, _ = next(m for m in reversed(members) if m[2].endswith("response"))
    got, stats = _read(io.BytesIO(data[: offset + length // 2]))
    assert got == [p for p in pages if p[1] < offset]
    assert stats.errors() == {"truncated": 1} and stats["resync_bytes_skipped"] == 0


class _Watched(ReplayStream):
    """Remembers the most bytes it ever held."""

    most = 0

    def _fill(self, n: int = CHUNK) -> bool:
        got = super()._fill(n)
        self.most = max(self.most, len(self.buf))
        return got


def test_a_long_corrupt_stretch_is_scanned_in_bounded_memory() -> None:
    record = b"WARC/1.0\r\nWARC-Type: resource\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
    garbage = random.Random(2).randbytes(16 * 1024 * 1024)
    stream = _Watched(io.BytesIO(garbage + gzip.compress(record)), keep=4 * CHUNK)
    assert stream.next_member(0, cap=1024) == (len(garbage), 0)
    assert stream.most <= 4 * CHUNK  # a few chunks, not the 16 MB passed over
