"""core.crawl.warc on real WARC files: exact counts per fixture, CC offsets against the labels, broken inputs."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from webrecall.core.crawl.warc import iter_pages, read_page
from webrecall.core.page import Stats

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
FIXTURES = CORPUS / "fixtures"
DEV_WARC = "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00000.warc.gz"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared corpus not found at {CORPUS}")

# Observed with fastwarc 2.0.1. ARC files are not WARC: fastwarc rejects them, so they end `unparseable`.
EXPECTED: dict[str, dict[str, int]] = {
    "dolma/sample-0000.warc.gz": {"records": 48, "total": 22, "kept": 22},
    "dolma/sample-0001.warc.gz": {"records": 34, "total": 15, "kept": 15},
    "jwarc/cc.warc.gz": {"records": 1, "total": 1, "kept": 1},
    "jwarc/gzip_extra_sl.warc.gz": {"records": 1},
    "pywb/dupes.warc.gz": {"records": 25, "total": 3, "kept": 1, "revisit": 9, "http_status": 1, "not_html": 1},
    "pywb/example-extra.warc": {"records": 6, "total": 2, "kept": 1, "revisit": 2, "unparseable": 1},  # HTTPX/1.1
    "pywb/example-wget-1-14.warc.gz": {"records": 6, "total": 1, "kept": 1},
    "pywb/example-wpull.warc.gz": {"records": 4, "total": 1, "kept": 1},
    "pywb/example2.warc.gz": {"records": 3, "total": 1, "kept": 1},
    "pywb/httpbin-resource.warc.gz": {"records": 1},
    "pywb/iana.warc.gz": {
        "records": 343,
        "total": 48,
        "kept": 16,
        "revisit": 123,
        "not_html": 28,
        "http_status": 4,
    },  # fmt: skip
    "pywb/missing-status-text.warc": {"records": 1, "total": 1, "unparseable": 1},  # CR CR LF header lines
    "real-cc-combined.warc.gz": {"records": 55, "total": 18, "kept": 18},
    "resiliparse/block-sized-records.warc": {"records": 3},
    "resiliparse/block-sized-records.warc.gz": {"records": 3},
    "resiliparse/block-sized-records.warc.lz4": {"records": 3},
    "resiliparse/clipped.warc.gz": {"records": 1, "total": 1, "truncated": 1},
    "resiliparse/clueweb-quirk.warc.gz": {"records": 30, "total": 29, "kept": 29},
    "resiliparse/warcfile.warc": {"records": 50, "total": 16, "kept": 16},
    "resiliparse/warcfile.warc.gz": {"records": 50, "total": 16, "kept": 16},
    "resiliparse/warcfile.warc.lz4": {"records": 50, "total": 16, "kept": 16},
    "warcio/bad.arc": {"unparseable": 1},
    "warcio/example-bad-non-chunked.warc.gz": {"records": 3, "unparseable": 1},  # whole-file gzip
    "warcio/example-bad.warc.gz.bad": {"records": 3, "total": 1, "unparseable": 1},  # whole-file gzip
    "warcio/example-digest.warc": {"records": 4},
    "warcio/example-iana.org-chunked.warc": {"records": 3, "total": 1, "kept": 1},
    "warcio/example-resource.warc.gz": {"records": 3},
    "warcio/example-space-in-target-uri.warc.gz": {"records": 2},
    "warcio/example-space-in-url.arc": {"unparseable": 1},
    "warcio/example-trunc.warc": {"records": 3, "total": 1, "truncated": 1, "unparseable": 1},
    "warcio/example-wget-bad-target-uri.warc.gz": {"records": 6, "total": 1, "kept": 1},
    "warcio/example-wrong-chunks.warc.gz": {"records": 2, "total": 1, "truncated": 1},  # 1270 of 1271 bytes
    "warcio/example.arc": {"unparseable": 1},
    "warcio/example.arc.gz": {"unparseable": 1},
    "warcio/example.warc": {"records": 6, "total": 1, "kept": 1, "revisit": 1},
    "warcio/example.warc.gz": {"records": 6, "total": 1, "kept": 1, "revisit": 1},
    "warcio/post-test.warc.gz": {"records": 6, "total": 3, "not_html": 3},
    "whirlwind/whirlwind.warc.gz": {"records": 4, "total": 1, "kept": 1},
}
COUNTERS = ("records", "total", "kept")


def fixture_files() -> list[str]:
    if not FIXTURES.is_dir():
        return []
    skip = (".json", ".wat.gz", ".wet.gz", ".paths.gz")
    return sorted(
        str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file() and not p.name.endswith(skip)
    )


def inventory() -> dict[str, dict]:
    entries = json.loads((FIXTURES / "inventory.json").read_text())
    return {e["file"].removeprefix("warc-fixtures/"): e for e in entries}


def read_all(path: Path, **kwargs: int) -> tuple[list, Stats]:
    stats = Stats()
    with path.open("rb") as fh:
        pages = list(iter_pages(fh, warc_path=str(path), stats=stats, **kwargs))
    return pages, stats


def observed(stats: Stats) -> dict[str, int]:
    out = {name: stats[name] for name in COUNTERS if stats[name]}
    out.update(stats.errors())
    return out


def test_every_fixture_is_listed() -> None:
    assert fixture_files() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_counts(name: str) -> None:
    pages, stats = read_all(FIXTURES / name)
    assert observed(stats) == EXPECTED[name]
    assert len(pages) == stats["kept"]
    assert stats["dropped"] == sum(stats.errors().values())
    assert all(p.url and p.html and p.charset and p.length > 0 for p in pages)
    offsets = [p.offset for p in pages]
    assert offsets == sorted(set(offsets))

    entry = inventory().get(name)
    if entry is None or entry["read_error_warcio"] is not None:
        return
    types = entry["record_types"]
    if not stats.errors().keys() & {"truncated", "unparseable"} and not name.endswith(".arc"):
        # A clean read sees what warcio saw.
        assert stats["records"] == entry["records"]
        assert stats["total"] == types.get("response", 0)
    assert stats["dropped_revisit"] == types.get("revisit", 0)
    assert stats["kept"] <= sum(n for t, n in entry["payload_types"].items() if t in ("text/html", ""))


def test_inventory_highlights() -> None:
    inv = inventory()
    assert inv["pywb/iana.warc.gz"]["record_types"]["revisit"] == EXPECTED["pywb/iana.warc.gz"]["revisit"]
    assert EXPECTED["resiliparse/clipped.warc.gz"]["truncated"] == 1
    for bad in ("warcio/example-bad-non-chunked.warc.gz", "warcio/example-bad.warc.gz.bad"):
        assert "non-chunked gzip" in inv[bad]["read_error_warcio"]
        assert EXPECTED[bad]["unparseable"] == 1


def test_compressions_agree() -> None:
    """gz, LZ4 and plain copies of one CC extract give the same pages; only the offsets differ."""
    runs = [read_all(FIXTURES / f"resiliparse/warcfile.warc{ext}")[0] for ext in ("", ".gz", ".lz4")]
    assert [[p.url for p in pages] for pages in runs] == [[p.url for p in runs[0]]] * 3
    assert [[p.html for p in pages] for pages in runs] == [[p.html for p in runs[0]]] * 3


def test_real_cc_charsets() -> None:
    pages = {p.url: p for p in read_all(FIXTURES / "real-cc-combined.warc.gz")[0]}
    chinese = pages["http://0760.jxtdw.com/area/sanxiang/"]  # HTTP charset=gb2312
    assert chinese.charset == "gb18030"
    assert "三乡人才市场" in chinese.html and "中山英才网" in chinese.html
    russian = pages["http://01spb.ru/company/"]  # HTTP charset=windows-1251
    assert russian.charset == "cp1251"
    assert "Стратегия пожарной безопасности" in russian.html
    assert "\ufffd" not in chinese.html + russian.html


def test_chunked_and_target_uri() -> None:
    (page,) = read_all(FIXTURES / "warcio/example-iana.org-chunked.warc")[0]
    assert page.html.lstrip().lower().startswith("<!doctype html>")
    assert page.html.rstrip().endswith("</html>")
    (page,) = read_all(FIXTURES / "warcio/example-wget-bad-target-uri.warc.gz")[0]
    assert page.url == "http://example.com/"


def test_dev_offsets_match_labels() -> None:
    rows = [json.loads(line) for line in (CORPUS / "labels/CC-MAIN-DEV.jsonl").open()]
    labels = {r["offset"]: r for r in rows if r["warc"] == DEV_WARC}
    pages, stats = read_all(CORPUS / DEV_WARC)
    assert observed(stats) == {"records": 1501, "total": 500, "kept": 500}
    assert {p.offset: (p.length, p.url) for p in pages} == {o: (r["length"], r["url"]) for o, r in labels.items()}

    data = (CORPUS / DEV_WARC).read_bytes()
    ranged = Stats()
    for page in pages:
        again = read_page(data[page.offset : page.offset + page.length], warc_path=DEV_WARC, offset=page.offset,
                          stats=ranged)  # fmt: skip
        assert again is not None and (again.url, again.offset, again.length) == (page.url, page.offset, page.length)
        assert again.html == page.html
    assert observed(ranged) == {"records": 500, "total": 500, "kept": 500}


def test_read_page_rejects() -> None:
    stats = Stats()
    warcinfo = (FIXTURES / "jwarc/gzip_extra_sl.warc.gz").read_bytes()
    assert read_page(warcinfo, warc_path="x", offset=0, stats=stats) is None
    assert read_page(b"not a warc at all", warc_path="x", offset=0, stats=stats) is None
    clipped = (FIXTURES / "jwarc/cc.warc.gz").read_bytes()[:3000]
    assert read_page(clipped, warc_path="x", offset=0, stats=stats) is None
    assert observed(stats) == {"records": 2, "total": 1, "truncated": 1, "unparseable": 1}


def _write_warc(path: Path, responses: list[tuple[str, str, str, bytes]], *, gz: bool = True) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        for url, status, ctype, body in responses:
            http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            writer.write_record(record)


def test_written_warc(tmp_path: Path) -> None:
    html = "<!doctype html><html><head><meta charset='utf-8'><title>Ünïcode</title></head><body>{}</body></html>"
    responses = [
        ("http://a.test/1", "200 OK", "text/html", html.format("one").encode()),
        ("http://a.test/big", "200 OK", "text/html", html.format("x" * 5000).encode()),
        ("http://a.test/doc.pdf", "200 OK", "application/pdf", b"%PDF-1.4 " + b"\0" * 100),
        ("http://a.test/missing", "404 Not Found", "text/html", html.format("gone").encode()),
        ("http://a.test/2", "200 OK", "text/html; charset=utf-8", html.format("two").encode()),
        ("http://a.test/plain.txt", "200 OK", "", b"just text, no markup"),  # no Content-Type: sniffed
    ]
    drops = {"too_large": 1, "not_html": 1, "http_status": 1}
    for gz in (True, False):
        path = tmp_path / f"small.warc{'.gz' if gz else ''}"
        _write_warc(path, responses, gz=gz)
        pages, stats = read_all(path, max_record_bytes=1024)
        assert [p.url for p in pages] == ["http://a.test/1", "http://a.test/2"]
        assert observed(stats) == {"records": 6, "total": 6, "kept": 2, **drops, "not_html": 2}
        assert "<title>Ünïcode</title>" in pages[0].html and pages[0].charset == "utf-8"
        data = path.read_bytes()
        assert pages[1].offset + pages[1].length < len(data)

        # Cut the file inside the payload of record 5: the pages before it survive.
        cut = tmp_path / "cut.warc"
        cut.write_bytes(data[: pages[1].offset + pages[1].length // 2] if gz else data[: data.index(b"two</body>")])
        cut_pages, cut_stats = read_all(cut, max_record_bytes=1024)
        assert [p.url for p in cut_pages] == ["http://a.test/1"]
        counts = observed(cut_stats)
        assert counts.pop("total") in (4, 5)  # gzip: the cut may fall inside the WARC headers
        assert counts == {"records": 5, "kept": 1, **drops, "truncated": 1}


def test_gzip_bomb_capped(tmp_path: Path) -> None:
    """A content-encoded payload may not inflate past 4x max_record_bytes."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    bomb = gzip.compress(b"<html>" + b" " * 200_000 + b"</html>")
    path = tmp_path / "bomb.warc.gz"
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", str(len(bomb)))]
        http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record("http://b.test/", "response", payload=io.BytesIO(bomb),
                                                      http_headers=http))  # fmt: skip
    assert observed(read_all(path, max_record_bytes=10_000)[1]) == {"records": 1, "total": 1, "too_large": 1}
    (page,) = read_all(path, max_record_bytes=100_000)[0]
    assert len(page.html) == 200_013


def test_deep_markup_is_dropped_and_wide_markup_is_not(tmp_path: Path) -> None:
    """The `too_deep` protection (100,000 nested <div>: minutes in the extractor) on a written WARC: stray
    closers cannot hide depth, and void or self-closed tags (<br>, SVG paths) never count as nesting."""
    page = "<!doctype html><html><body>{}</body></html>"
    responses = [
        ("http://a.test/deep", page.format("<div>" * 100_000 + "deep" + "</div>" * 100_000)),
        ("http://a.test/hidden", page.format("</div>" * 8_000 + "<DIV class=x>" * 2_500 + "deep")),
        ("http://a.test/svg", page.format("<svg>" + '<path d="M0 0"/>' * 20_000 + "</svg>")),
        ("http://a.test/voids", page.format("<p>" + "<br><IMG src=x.png><input type=text>" * 5_000)),
        ("http://a.test/shallow", page.format("<ul>" + "<li><a href=#>x</a></li>" * 10_000 + "</ul>")),
        ("http://a.test/limit", page.format("<div>" * 1_997 + "<p>x</p>" * 10_000)),  # with html, body, p: 2,000
        ("http://a.test/over", page.format("<div>" * 1_998 + "<p>x</p>" * 10_000)),
    ]
    path = tmp_path / "deep.warc.gz"
    _write_warc(path, [(url, "200 OK", "text/html", body.encode()) for url, body in responses])
    pages, stats = read_all(path)
    assert [p.url for p in pages] == ["http://a.test/svg", "http://a.test/voids", "http://a.test/shallow",
                                      "http://a.test/limit"]  # fmt: skip
    assert stats["dropped_too_deep"] == 3
