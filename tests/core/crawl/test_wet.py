"""core.crawl.wet and core.crawl.wetgen: Common Crawl's real WET file read beside its WARC file, WET files written
for a local crawl in the same layout, and served by the mirror as an overlay under Common Crawl's URLs."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType
from typer.testing import CliRunner

from tests.conftest import CORPUS
from webrecall.cli.main import app
from webrecall.core.crawl.listing import resolve_crawl, warc_location, wet_location
from webrecall.core.crawl.sources import open_stream, read_range
from webrecall.core.crawl.warc import iter_pages
from webrecall.core.crawl.wet import WetDoc, iter_wet
from webrecall.core.crawl.wetgen import build_wet, write_wet
from webrecall.core.errors import FatalError
from webrecall.core.page import Stats
from webrecall.mirror.server import serve

WHIRLWIND = CORPUS / "fixtures" / "whirlwind"
DEV_WARC = "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00000.warc.gz"
CRAWL = "CC-MAIN-SMALL"
SMALL_WARC = f"crawl-data/{CRAWL}/segments/1716000000000.0/warc/{CRAWL}-00000.warc.gz"


def _responses(path: Path) -> dict[str, tuple[str, str]]:
    """record id -> (target URI, date) of every response record."""
    out = {}
    with path.open("rb") as fh:
        for rec in ArchiveIterator(fh, parse_http=False):
            if rec.record_type == WarcRecordType.response:
                out[rec.headers["WARC-Record-ID"]] = (rec.headers["WARC-Target-URI"], rec.headers["WARC-Date"])
    return out


def _wet(path: Path, stats: Stats | None = None) -> list[WetDoc]:
    with path.open("rb") as fh:
        return list(iter_wet(fh, wet_path=str(path), stats=stats if stats is not None else Stats()))


def test_common_crawls_wet_file_read_beside_its_warc_file():
    stats = Stats()
    docs = _wet(WHIRLWIND / "whirlwind.warc.wet.gz", stats)
    assert len(docs) == 1
    doc = docs[0]
    assert (doc.url, doc.date, doc.languages) == ("https://an.wikipedia.org/wiki/Escopete", "2024-05-18T01:58:10Z",
                                                  "spa")  # fmt: skip
    assert _responses(WHIRLWIND / "whirlwind.warc.gz")[doc.refers_to] == (doc.url, doc.date)
    assert doc.text.startswith("Escopete - Biquipedia, a enciclopedia libre\nIr al contenido\n")
    assert len(doc.text.encode()) == 4456  # the record's Content-Length
    assert doc.offset == 466 and doc.offset + doc.length == os.path.getsize(WHIRLWIND / "whirlwind.warc.wet.gz")
    assert stats.counts["total"] == stats.counts["kept"] == 1 and stats.errors() == {}  # warcinfo is no page


def test_a_record_read_back_by_its_byte_range():
    path = WHIRLWIND / "whirlwind.warc.wet.gz"
    doc = _wet(path)[0]
    again = list(iter_wet(io.BytesIO(read_range(str(path), doc.offset, doc.length)), wet_path=str(path),
                          stats=Stats()))  # fmt: skip
    assert [(d.url, d.text, d.refers_to) for d in again] == [(doc.url, doc.text, doc.refers_to)]


def test_a_cut_wet_file_is_a_counted_drop(tmp_path):
    raw = (WHIRLWIND / "whirlwind.warc.wet.gz").read_bytes()
    cut = tmp_path / "cut.warc.wet.gz"
    cut.write_bytes(raw[: len(raw) - 900])
    stats = Stats()
    assert _wet(cut, stats) == []
    assert stats.errors() == {"truncated": 1}


def test_wet_and_warc_locations_are_common_crawls():
    warc = ("crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/warc/"
            "CC-MAIN-20240517233122-20240518023122-00000.warc.gz")  # fmt: skip
    assert wet_location(warc) == ("crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/"
                                  "CC-MAIN-20240517233122-20240518023122-00000.warc.wet.gz")  # fmt: skip
    assert warc_location(wet_location(warc)) == warc
    with pytest.raises(ValueError, match="not laid out"):
        wet_location("some/file.warc.gz")


@pytest.fixture(scope="module")
def small_crawl(tmp_path_factory) -> Path:
    """A Common-Crawl-shaped folder with one WARC file: the first 40 records' bytes of a DEV file (per-record gzip
    members, so any prefix of whole records is a WARC file)."""
    root = tmp_path_factory.mktemp("small")
    pages = []
    with (CORPUS / DEV_WARC).open("rb") as fh:
        for page in iter_pages(fh, warc_path=DEV_WARC, stats=Stats()):
            pages.append(page)
            if len(pages) == 40:
                break
    end = pages[-1].offset + pages[-1].length
    target = root / SMALL_WARC
    target.parent.mkdir(parents=True)
    target.write_bytes((CORPUS / DEV_WARC).read_bytes()[:end])
    (root / "crawl-data" / CRAWL / "warc.paths.gz").write_bytes(gzip.compress(f"{SMALL_WARC}\n".encode()))
    return root


def test_written_wet_file_has_common_crawls_layout(small_crawl, tmp_path):
    warc = small_crawl / SMALL_WARC
    stats = Stats()
    written = write_wet(warc, tmp_path / "a.warc.wet.gz", crawl=CRAWL, stats=stats)
    assert written.pages == 40 and written.records == 40 - stats.counts["wet_empty"] >= 38
    with (tmp_path / "a.warc.wet.gz").open("rb") as fh:
        records = [(r.record_type, list(r.headers.keys()), r.verify_block_digest())
                   for r in ArchiveIterator(fh, parse_http=False)]  # fmt: skip
    with (WHIRLWIND / "whirlwind.warc.wet.gz").open("rb") as fh:
        cc = [(r.record_type, list(r.headers.keys())) for r in ArchiveIterator(fh, parse_http=False)]
    assert [r[0] for r in records] == [WarcRecordType.warcinfo] + [WarcRecordType.conversion] * written.records
    assert all(keys == cc[1][1] and ok for _, keys, ok in records[1:])  # Common Crawl's headers, in its order
    responses = _responses(warc)
    docs = _wet(tmp_path / "a.warc.wet.gz")
    assert len(docs) == written.records and len({d.refers_to for d in docs}) == len(docs)
    for doc in docs:
        assert responses[doc.refers_to] == (doc.url, doc.date)
        assert doc.text.strip() and doc.languages
    write_wet(warc, tmp_path / "b.warc.wet.gz", crawl=CRAWL)
    (tmp_path / "b.warc.wet.gz").rename(tmp_path / "a2.warc.wet.gz")
    write_wet(warc, tmp_path / "b.warc.wet.gz", crawl=CRAWL)
    assert (tmp_path / "a2.warc.wet.gz").read_bytes() == (tmp_path / "b.warc.wet.gz").read_bytes()  # deterministic


def test_built_wet_files_are_served_as_an_overlay(small_crawl, tmp_path):
    out = tmp_path / "out"
    assert build_wet(small_crawl, out)[CRAWL]["written"] == 1
    assert build_wet(small_crawl, out)[CRAWL]["written"] == 0  # up to date: kept
    assert not list(small_crawl.rglob("*.wet.gz"))  # the crawl folder is only read
    server, url = serve(str(small_crawl), index_dir=str(out))
    try:
        (wet_url,) = resolve_crawl(CRAWL, url, kind="wet")
        assert wet_url == url + wet_location(SMALL_WARC)
        assert resolve_crawl(CRAWL, url) == [url + SMALL_WARC]
        with open_stream(wet_url) as stream:
            docs = list(iter_wet(stream, wet_path=wet_url, stats=Stats()))
        assert [d.text for d in docs] == [d.text for d in _wet(out / wet_location(SMALL_WARC))]
    finally:
        server.shutdown()
        server.server_close()
    assert resolve_crawl(CRAWL, str(out), kind="wet") == [str(out / wet_location(SMALL_WARC))]


def test_index_build_writes_wet_files_unless_told_not_to(small_crawl, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["index", "build", str(small_crawl), "-o", str(tmp_path / "no"), "--no-languages",
                                 "--no-wet", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "no" / "crawl-data" / CRAWL / "wet.paths.gz").exists()
    result = runner.invoke(app, ["index", "build", str(small_crawl), "-o", str(tmp_path / "yes"), "--no-languages",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "yes" / "crawl-data" / CRAWL / "wet.paths.gz").exists()
    assert (tmp_path / "yes" / wet_location(SMALL_WARC)).exists()


def test_a_crawl_without_wet_files_says_so():
    with pytest.raises(FatalError, match="wet.paths.gz not found"):
        resolve_crawl("CC-MAIN-DEV", str(CORPUS), kind="wet")


def test_candidates_are_found_in_the_url_index_by_columnar_index_and_by_cdx(small_crawl, tmp_path):
    from webrecall.core.crawl.ccindex import CaptureIndex, IndexStats, Wanted, build_index

    out = tmp_path / "index"
    build_index(small_crawl, out, crawls=[CRAWL], row_group_rows=3, languages=False)
    with (small_crawl / SMALL_WARC).open("rb") as fh:
        pages = list(iter_pages(fh, warc_path=SMALL_WARC, stats=Stats()))
    wanted = [Wanted(p.url, p.date) for p in pages[::7]] + [Wanted("https://nowhere.example/x", "")]
    expect = {p.url: (p.offset, p.length) for p in pages[::7]}
    server, url = serve(str(small_crawl), index_dir=str(out))
    try:
        for backend in ("columnar", "cdx"):
            stats = IndexStats()
            index = CaptureIndex(CRAWL, url, backend=backend, cdx_base=url)  # type: ignore[arg-type]
            found = index.find(wanted, prefer=SMALL_WARC, stats=stats)
            assert {u: (o, n) for u, (_, o, n) in found.items()} == expect, backend
            assert {loc for loc, _, _ in found.values()} == {url + SMALL_WARC}
            assert stats.requests > 0 and stats.bytes_read > 0
            if backend == "columnar":  # only the row groups that can hold a wanted key are read
                assert stats.row_groups_read < stats.row_groups
    finally:
        server.shutdown()
        server.server_close()
