"""The full-size bench's WARC generator, at 200 pages: Common Crawl's layout, unique URLs, real HTML, and a file
our reader reads page for page (whole, and record by record through the byte ranges it reports)."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator

from bench.warcgen import read_sources, variant_url, write_crawl
from tests.conftest import CORPUS
from webrecall.core.crawl.warc import iter_pages, read_page
from webrecall.core.page import Stats
from webrecall.core.urls.domains import split_url

DEV_WARC = CORPUS / "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00000.warc.gz"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, list[str]]:
    sources = read_sources([DEV_WARC])[:60]  # 60 real pages -> 4 copies of each (the last one partly)
    root = tmp_path_factory.mktemp("gen")
    rel, written = write_crawl(root, sources, crawl="CC-MAIN-GEN", min_pages=200)
    assert written.copies == 4 and written.records == 1 + 3 * 200
    return root / rel, sources, written.urls


def test_layout_is_common_crawls_one_gzip_member_per_record(generated):
    path, _, urls = generated
    data = path.read_bytes()
    with open(path, "rb") as f:
        records = [(r.stream_pos, dict(r.headers)) for r in ArchiveIterator(f, parse_http=False)]
    assert [h["WARC-Type"] for _, h in records] == ["warcinfo"] + ["request", "response", "metadata"] * 200
    offsets = [pos for pos, _ in records] + [len(data)]
    for start, end in zip(offsets, offsets[1:], strict=False):  # each record is a whole gzip member of its own
        d = zlib.decompressobj(31)
        assert d.decompress(data[start:end]).startswith(b"WARC/1.0\r\n") and d.eof and not d.unused_data
    targets = [h["WARC-Target-URI"] for _, h in records[1:]]
    assert targets[0::3] == targets[1::3] == targets[2::3] == urls


def test_urls_are_unique_and_spread_over_more_hosts_than_the_sources(generated):
    _, sources, urls = generated
    assert len(set(urls)) == len(urls) == 200
    assert set(urls[:60]) == {s.url for s in sources}  # copy 0: the pages' own URLs, then moved copies
    source_hosts = {split_url(s.url)[0] for s in sources}
    hosts = Counter(split_url(u)[0] for u in urls)
    assert len(hosts) > 2 * len(source_hosts)
    assert variant_url("https://docs.python.org/3/library/os.html", 0) == "https://docs.python.org/3/library/os.html"
    moved = variant_url("https://docs.python.org/3/library/os.html", 3)
    assert split_url(moved)[0].startswith("docs.python-3") and split_url(moved)[1].endswith(".org")
    assert moved.endswith("/3/library/os.html")


def test_our_reader_reads_every_page_with_its_real_html(generated):
    path, sources, urls = generated
    stats = Stats()
    with open(path, "rb") as f:
        pages = list(iter_pages(f, warc_path=str(path), stats=stats))
    assert [p.url for p in pages] == urls
    assert stats["dropped"] == 0
    data = path.read_bytes()
    originals = {variant_url(s.url, k): s for s in sources for k in range(4)}
    labels = {r["url"]: r for r in map(json.loads, (CORPUS / "labels/CC-MAIN-DEV.jsonl").open(encoding="utf-8"))}
    dev = DEV_WARC.read_bytes()
    for page in pages[::17]:
        again = read_page(data[page.offset : page.offset + page.length], warc_path=str(path), offset=page.offset)
        assert again is not None and again.url == page.url and again.html == page.html
        row = labels[originals[page.url].url]  # the page as the corpus stores it
        original = read_page(dev[row["offset"] : row["offset"] + row["length"]], warc_path="x", offset=0)
        assert original is not None and page.html == original.html and len(page.html) > 1000

