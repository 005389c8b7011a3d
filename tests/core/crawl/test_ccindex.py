"""The crawl's URL index: built for CC-MAIN-DEV, served by the mirror over loopback, looked up by SURT range
through the columnar index and through the CDX API (real WARC files, real HTTP)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests
from typer.testing import CliRunner

from tests.conftest import CORPUS
from webrecall.cli.main import app
from webrecall.core.crawl.ccindex import (
    SCHEMA,
    Capture,
    index_languages,
    iso639_3,
    key_range,
    lookup,
    surt_key,
    url_columns,
)
from webrecall.core.crawl.sources import read_range
from webrecall.core.crawl.warc import read_page
from webrecall.core.urls.patterns import parse
from webrecall.mirror.server import serve

LABELS = [json.loads(line) for line in (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").open(encoding="utf-8")]
PATTERNS = ["www.postgresql.org/docs/", "%.sqlite.org/%", "docs.djangoproject.com/", "docs.python.org/3.11/library/"]
PART_DIR = "cc-index/table/cc-main/warc/crawl=CC-MAIN-DEV/subset=warc"


@pytest.fixture(scope="module")
def dev_index(tmp_path_factory) -> Path:
    from webrecall.core.crawl.ccindex import build_index

    out = tmp_path_factory.mktemp("ccindex")
    build_index(CORPUS, out, crawls=["CC-MAIN-DEV"], row_group_rows=200, languages=False)
    return out


@pytest.fixture(scope="module")
def mirror(dev_index):
    server, url = serve(str(CORPUS), index_dir=str(dev_index))
    yield server, url
    server.shutdown()
    server.server_close()


def _expected(pattern: str) -> set[tuple[str, str, int, int]]:
    pat = parse(pattern)
    return {(r["url"], r["warc"], r["offset"], r["length"]) for r in LABELS if pat.matches(r["url"])}


def test_surt_keys_are_common_crawls():
    # examples from Common Crawl's schema and from a real CC-MAIN-2024-22 index row
    assert surt_key("https://www.example.com/path/index.html") == "com,example)/path/index.html"
    assert surt_key("https://an.wikipedia.org/wiki/Escopete") == "org,wikipedia,an)/wiki/escopete"
    assert surt_key("https://docs.python.org/3/library/os.html") == "org,python,docs)/3/library/os.html"
    assert surt_key("http://example.com:8080/a?b=2&a=1") == "com,example:8080)/a?a=1&b=2"


def test_url_columns_match_a_real_index_row():
    row = url_columns("https://an.wikipedia.org/wiki/Escopete")
    assert row == {
        "url_surtkey": "org,wikipedia,an)/wiki/escopete", "url": "https://an.wikipedia.org/wiki/Escopete",
        "url_host_name": "an.wikipedia.org", "url_host_tld": "org", "url_host_2nd_last_part": "wikipedia",
        "url_host_3rd_last_part": "an", "url_host_4th_last_part": None, "url_host_5th_last_part": None,
        "url_host_registry_suffix": "org", "url_host_registered_domain": "wikipedia.org",
        "url_host_private_suffix": "org", "url_host_private_domain": "wikipedia.org",
        "url_host_name_reversed": "org.wikipedia.an", "url_protocol": "https", "url_port": None,
        "url_path": "/wiki/Escopete", "url_query": None,
    }  # fmt: skip
    assert url_columns("https://foo.github.io/x")["url_host_private_suffix"] == "github.io"
    assert url_columns("https://foo.github.io/x")["url_host_registry_suffix"] == "io"


def test_index_has_the_public_layout_schema_and_order(dev_index):
    listing = gzip.decompress((dev_index / "crawl-data/CC-MAIN-DEV/cc-index-table.paths.gz").read_bytes()).decode()
    parts = listing.split()
    assert len(parts) == 1 and parts[0].startswith(PART_DIR + "/part-00000-") and parts[0].endswith(".c000.gz.parquet")
    pf = pq.ParquetFile(dev_index / parts[0])
    assert pf.schema_arrow == SCHEMA
    assert pf.metadata.num_rows == 3804 and pf.metadata.num_row_groups == 20
    keys = pf.read(columns=["url_surtkey"])["url_surtkey"].to_pylist()
    assert keys == sorted(keys)
    key_col = pf.schema_arrow.get_field_index("url_surtkey")
    for g in range(pf.metadata.num_row_groups):
        assert pf.metadata.row_group(g).column(key_col).statistics.has_min_max
    table = pf.read(columns=["url", "warc_filename", "warc_record_offset", "warc_record_length", "fetch_status",
                             "content_mime_detected", "warc_segment"])  # fmt: skip
    rows = {(r["url"], r["warc_filename"], r["warc_record_offset"], r["warc_record_length"]) for r in table.to_pylist()}
    assert rows == {(r["url"], r["warc"], r["offset"], r["length"]) for r in LABELS}  # every page, where it lies
    assert Counter(table["fetch_status"].to_pylist()) == {200: 3804}
    assert set(table["warc_segment"].to_pylist()) == {"1716000000000.0"}


def test_pattern_ranges_hold_every_matching_url_and_hosts_are_required():
    for pattern in [*PATTERNS, "httpd.apache.org/docs/2.4/", "www.sqlite.org", "%docs.djangoproject.com/en/%"]:
        kr = key_range(pattern)
        matching = [r["url"] for r in LABELS if kr.pattern.matches(r["url"])]
        assert matching, pattern
        assert all(any(lo <= surt_key(u) <= hi for lo, hi in kr.spans) for u in matching), pattern
    assert key_range("docs.python.org/3/").spans[0] == ("org,python,docs)/3", "org,python,docs)/3")
    for broad in ("%/questions/%", "%.org/%", "%readthedocs.io/%"):
        with pytest.raises(ValueError, match="not expandable"):
            key_range(broad)


def test_columnar_lookup_over_the_mirror_reads_only_row_groups_that_can_match(mirror, dev_index):
    server, url = mirror
    server.bytes_served.clear()
    found, skipped, stats = lookup([*PATTERNS, "%/questions/%"], "CC-MAIN-DEV", index_base=url)
    assert list(skipped) == ["%/questions/%"]
    for pattern in PATTERNS:
        got = {(c.url, c.warc, c.offset, c.length) for c in found[parse(pattern).text]}
        assert got == _expected(pattern), pattern
    # the row groups read are those whose key range can hold a match; every one holds a match here
    pf = pq.ParquetFile(next((dev_index / PART_DIR).glob("*.parquet")))
    holding = set()
    for g in range(pf.metadata.num_row_groups):
        urls = pf.read_row_group(g, columns=["url"])["url"].to_pylist()
        if any(parse(p).matches(u) for p in PATTERNS for u in urls):
            holding.add(g)
    assert stats.row_groups == 20 and stats.row_groups_read == len(holding) < 20
    # what the client counted is what the server sent; well under the file
    part = f"/{PART_DIR}/{next((dev_index / PART_DIR).glob('*.parquet')).name}"
    assert stats.bytes_read == server.bytes_served[part]
    assert stats.bytes_read < (dev_index / part.lstrip("/")).stat().st_size


def test_captures_point_at_real_records(mirror):
    _, url = mirror
    found, _, _ = lookup(["docs.python.org/3.11/library/"], "CC-MAIN-DEV", index_base=url)
    caps = found["docs.python.org/3.11/library/"]
    assert len(caps) == 181
    for cap in caps[:5]:
        page = read_page(read_range(url + cap.warc, cap.offset, cap.length), warc_path=cap.warc, offset=cap.offset)
        assert page is not None and page.url == cap.url


def test_cdx_backend_finds_the_same_captures(mirror):
    server, url = mirror
    columnar, _, _ = lookup(PATTERNS, "CC-MAIN-DEV", index_base=url)
    cdx, skipped, stats = lookup(PATTERNS, "CC-MAIN-DEV", backend="cdx", cdx_base=url)
    assert not skipped and stats.requests >= 2 * len(PATTERNS)
    for pattern in PATTERNS:
        key = parse(pattern).text
        assert {(c.url, c.offset) for c in cdx[key]} == {(c.url, c.offset) for c in columnar[key]}


def test_mirror_answers_the_cdx_api_like_common_crawl(mirror):
    _, url = mirror
    api = url + "CC-MAIN-DEV-index"
    lines = requests.get(api, params={"url": "docs.djangoproject.com/en/*", "output": "json"}, timeout=10)
    assert lines.status_code == 200
    rows = [json.loads(x) for x in lines.text.splitlines()]
    assert len(rows) == 300 and all(r["urlkey"].startswith("com,djangoproject,docs)/en") for r in rows)
    assert set(rows[0]) >= {"urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset", "filename"}
    assert rows[0]["status"] == "200" and len(rows[0]["timestamp"]) == 14
    one = requests.get(api, params={"url": rows[0]["url"], "output": "json", "fl": "url,offset"}, timeout=10)
    assert [json.loads(x) for x in one.text.splitlines()] == [{"url": rows[0]["url"], "offset": rows[0]["offset"]}]
    host = requests.get(api, params={"url": "sqlite.org", "matchType": "domain", "output": "json",
                                     "filter": ["=status:200", "~url:/c3ref/"]}, timeout=10)  # fmt: skip
    assert len(host.text.splitlines()) == 77
    pages = requests.get(api, params={"url": "www.postgresql.org/docs/", "matchType": "prefix", "showNumPages": "true",
                                      "pageSize": 150}, timeout=10).json()  # fmt: skip
    assert pages["pages"] == 3
    last = requests.get(api, params={"url": "www.postgresql.org/docs/", "matchType": "prefix", "output": "json",
                                     "pageSize": 150, "page": 2}, timeout=10)  # fmt: skip
    assert len(last.text.splitlines()) == 100
    cdxj = requests.get(api, params={"url": rows[0]["url"]}, timeout=10).text
    assert cdxj.startswith(rows[0]["urlkey"] + " " + rows[0]["timestamp"] + " {")
    assert requests.get(api, params={"url": "nowhere.example.org"}, timeout=10).status_code == 404
    assert requests.get(url + "CC-MAIN-NOPE-index", params={"url": "x.org"}, timeout=10).status_code == 404
    assert requests.get(api, params={"url": "x.org", "filter": "status"}, timeout=10).status_code == 400


def test_cli_builds_and_looks_up_an_index(tmp_path):
    out = tmp_path / "idx"
    result = CliRunner().invoke(app, ["index", "build", str(CORPUS), "--output", str(out), "--crawl", "CC-MAIN-BENCH",
                                      "--row-group-rows", "100", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)["CC-MAIN-BENCH"]
    assert built["captures"] == 1416 and built["row_groups"] == 15
    bench_labels = [json.loads(x) for x in (CORPUS / "labels" / "CC-MAIN-BENCH.jsonl").open(encoding="utf-8")]
    langs = pq.read_table(out / built["parts"][0], columns=["url", "content_languages"]).to_pylist()
    truth = {r["url"]: r["lang"] for r in bench_labels}
    agree = sum([truth[r["url"]]] == index_languages(r["content_languages"]) for r in langs)
    assert agree == 1373  # detected from each page's text (1,416 pages; the labels' own field differs on 43)
    written = Counter(r["content_languages"] for r in langs)  # Common Crawl's form: ISO 639-3
    assert {"eng", "deu"} <= set(written) and all(v is None or len(v) == 3 for v in written)
    result = CliRunner().invoke(app, ["index", "lookup", "%.sqlite.org/%", "%/x/%", "--crawl", "CC-MAIN-BENCH",
                                      "--base-url", str(out), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    want = sum(parse("%.sqlite.org/%").matches(r["url"]) for r in bench_labels)
    assert data["patterns"]["%.sqlite.org/%"]["captures"] == want
    assert "%/x/%" in data["not_expandable"] and data["row_groups_read"] < data["row_groups"]
    bad = CliRunner().invoke(app, ["index", "build", str(tmp_path), "--output", str(out)])
    assert bad.exit_code == 2 and "crawl-data" in bad.output


def test_index_languages_read_common_crawls_3_letter_codes_and_the_older_2_letter_ones():
    """CC's columnar index and CDX API write ISO 639-3 (`eng,deu`, most likely first); indexes written before
    this release wrote our detector's ISO 639-1 codes. Both read as ISO 639-1."""
    assert index_languages("eng,deu") == ["en", "de"] == index_languages("en,de")
    assert index_languages("zho") == ["zh"] and index_languages(None) == [] and index_languages("") == []
    assert iso639_3("en") == "eng" and iso639_3("zh") == "zho" and iso639_3("eng") == "eng"
    assert index_languages("fil") == ["fil"]  # a language with no 2-letter code keeps its 3 letters
    assert Capture(url="u", warc="w", offset=0, length=1, status=200, mime="text/html", languages="fra").langs == ["fr"]
