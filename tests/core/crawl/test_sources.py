import gzip
import hashlib
import json
import time
from pathlib import Path

import pytest

from webrecall.core.crawl.listing import latest_crawl, resolve_crawl, select
from webrecall.core.crawl.sources import open_stream, read_range
from webrecall.core.errors import FatalError, NotFoundError, RetryableError, SkippableError

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"  # as in tests/conftest.py
DEV_WARCS = CORPUS / "crawl-data" / "CC-MAIN-DEV" / "segments" / "1716000000000.0" / "warc"
SMALL_WARC = "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00007.warc.gz"
with (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").open(encoding="utf-8") as _labels:
    FIRST_ROW = json.loads(_labels.readline())


def sha256_of(stream) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return sha256_of(f)


# resolve_crawl


def test_resolve_crawl_over_http(corpus_server):
    urls = resolve_crawl("CC-MAIN-DEV", corpus_server)
    assert urls == [
        f"{corpus_server}crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-0000{i}.warc.gz"
        for i in range(8)
    ]


def test_resolve_crawl_from_a_local_folder():
    paths = resolve_crawl("CC-MAIN-DEV", str(CORPUS))
    assert len(paths) == 8
    assert all(Path(p).is_file() for p in paths)
    assert Path(paths[0]) == DEV_WARCS / "CC-MAIN-DEV-00000.warc.gz"


def test_unknown_crawl_is_fatal(corpus_server):
    with pytest.raises(FatalError, match=r"unknown crawl id 'CC-MAIN-NOPE': .*/CC-MAIN-NOPE/warc.paths.gz not found"):
        resolve_crawl("CC-MAIN-NOPE", corpus_server, retries=0)
    with pytest.raises(FatalError, match="unknown crawl id 'CC-MAIN-NOPE'"):
        resolve_crawl("CC-MAIN-NOPE", str(CORPUS))


@pytest.mark.parametrize(
    "crawl_id", ["", "CC-MAIN-", "cc-main-2024-22", "CC-MAIN-DEV/../x", "../etc", "CC-MAIN-DEV\n", "CC-MAIN-A B"]
)
def test_bad_crawl_ids_are_rejected(crawl_id):
    with pytest.raises(FatalError, match="invalid crawl id"):
        resolve_crawl(crawl_id, str(CORPUS))


# select

PATHS = [f"w{i:03d}" for i in range(100)]


def test_select_limit_keeps_the_first_paths():
    assert select(PATHS, limit=3) == ["w000", "w001", "w002"]
    assert select(PATHS, limit=1000) == PATHS
    assert select(PATHS) == PATHS


def test_select_sample_is_seeded_ordered_and_nested():
    tenth = select(PATHS, sample=0.1, seed=7)
    assert len(tenth) == 10
    assert tenth == sorted(tenth)
    assert tenth == select(PATHS, sample=0.1, seed=7)
    assert tenth != select(PATHS, sample=0.1, seed=8)
    assert set(tenth) <= set(select(PATHS, sample=0.3, seed=7))
    assert len(select(PATHS, sample=0.001)) == 1  # ceil: a tiny sample still reads one file
    assert select(PATHS, sample=1.0) == PATHS
    assert select(PATHS, sample=0.5, limit=4, seed=3) == select(PATHS, sample=0.5, seed=3)[:4]


@pytest.mark.parametrize(
    "kwargs", [{"limit": 0}, {"limit": -1}, {"limit": 2.5}, {"sample": 0}, {"sample": -0.1}, {"sample": 1.5},
               {"sample": float("nan")}]
)  # fmt: skip
def test_select_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="limit must be|sample must be"):
        select(PATHS, **kwargs)


# open_stream


def test_open_stream_http_gives_the_stored_bytes(corpus_server):
    with open_stream(corpus_server + SMALL_WARC) as stream:
        assert sha256_of(stream) == sha256_file(CORPUS / SMALL_WARC)
        assert stream.tell() == (CORPUS / SMALL_WARC).stat().st_size


def test_open_stream_local_path_and_file_url():
    expected = sha256_file(CORPUS / SMALL_WARC)
    with open_stream(str(CORPUS / SMALL_WARC)) as stream:
        assert sha256_of(stream) == expected
    with open_stream((CORPUS / SMALL_WARC).as_uri()) as stream:
        assert sha256_of(stream) == expected


def test_open_stream_survives_503s_and_mid_body_drops(flaky_server):
    server = flaky_server(faults=("503", "drop", "drop", "503", "drop"), drop_after=256 * 1024)
    with open_stream(server.url + SMALL_WARC, retries=3) as stream:
        assert sha256_of(stream) == sha256_file(CORPUS / SMALL_WARC)
    assert [(h.fault, h.status, h.range) for h in server.hits] == [
        ("503", 503, None),
        ("drop", 200, None),
        ("drop", 206, "bytes=262144-"),
        ("503", 503, "bytes=524288-"),
        ("drop", 206, "bytes=524288-"),
        (None, 206, "bytes=786432-"),
    ]


def test_open_stream_honours_retry_after(flaky_server):
    server = flaky_server(faults=("503",), retry_after="1")
    start = time.monotonic()
    with open_stream(server.url + SMALL_WARC) as stream:
        assert stream.read(4) == b"\x1f\x8b\x08\x00"
    assert time.monotonic() - start >= 1.0
    assert [h.status for h in server.hits] == [503, 200]


def test_open_stream_gives_up_after_retries(flaky_server):
    server = flaky_server(faults=("503",) * 10)
    with pytest.raises(RetryableError, match="503 .*gave up after 3 attempts"):
        with open_stream(server.url + SMALL_WARC, retries=2):
            pass
    assert len(server.hits) == 3


def test_a_stream_that_drops_without_progress_gives_up(flaky_server):
    server = flaky_server(faults=("drop",), cycle=True, drop_after=0)
    with pytest.raises(RetryableError, match="connection .* at byte 0"):
        with open_stream(server.url + SMALL_WARC, retries=2) as stream:
            stream.read()
    assert len(server.hits) == 3


def test_missing_file_is_not_found_and_not_retried(flaky_server):
    server = flaky_server()
    with pytest.raises(NotFoundError, match=r"nope\.warc\.gz not found \(HTTP 404"):
        with open_stream(server.url + "crawl-data/nope.warc.gz"):
            pass
    assert [h.status for h in server.hits] == [404]
    with pytest.raises(NotFoundError, match="not found"):
        with open_stream(str(CORPUS / "crawl-data" / "nope.warc.gz")):
            pass
    assert issubclass(NotFoundError, FatalError)


# read_range


def expected_record() -> bytes:
    with (CORPUS / FIRST_ROW["warc"]).open("rb") as f:
        f.seek(FIRST_ROW["offset"])
        return f.read(FIRST_ROW["length"])


def test_read_range_http_and_local_match_the_file(corpus_server):
    expected = expected_record()
    assert gzip.decompress(expected).startswith(b"WARC/1.")
    offset, length = FIRST_ROW["offset"], FIRST_ROW["length"]
    assert read_range(corpus_server + FIRST_ROW["warc"], offset, length) == expected
    assert read_range(str(CORPUS / FIRST_ROW["warc"]), offset, length) == expected


def test_read_range_retries_a_dropped_connection(flaky_server):
    server = flaky_server(faults=("drop", "503"), drop_after=1000)
    data = read_range(server.url + FIRST_ROW["warc"], FIRST_ROW["offset"], FIRST_ROW["length"])
    assert data == expected_record()
    end = FIRST_ROW["offset"] + FIRST_ROW["length"] - 1
    wanted = f"bytes={FIRST_ROW['offset']}-{end}"
    assert [(h.status, h.range) for h in server.hits] == [(206, wanted), (503, wanted), (206, wanted)]


def test_read_range_past_the_end_is_skippable(corpus_server):
    size = (CORPUS / SMALL_WARC).stat().st_size
    for location in (corpus_server + SMALL_WARC, str(CORPUS / SMALL_WARC)):
        with pytest.raises(SkippableError, match="past the end"):
            read_range(location, size + 10, 100)
        with pytest.raises(SkippableError, match="past the end"):
            read_range(location, size - 10, 100)
    with pytest.raises(ValueError):
        read_range(str(CORPUS / SMALL_WARC), -1, 10)


# latest_crawl


def test_latest_crawl_reads_collinfo(tmp_path, flaky_server):
    collinfo = [
        {"id": "CC-MAIN-2025-30", "name": "July 2025 Index", "cdx-api": "https://index.commoncrawl.org/x"},
        {"id": "CC-MAIN-2025-26", "name": "June 2025 Index"},
    ]
    (tmp_path / "collinfo.json").write_text(json.dumps(collinfo), encoding="utf-8")
    server = flaky_server(directory=tmp_path)
    assert latest_crawl(server.url + "collinfo.json") == "CC-MAIN-2025-30"
    assert latest_crawl(str(tmp_path / "collinfo.json")) == "CC-MAIN-2025-30"


@pytest.mark.parametrize("content", ["<html>maintenance</html>", "[]", '[{"id": "../../etc"}]', '{"id": 1}'])
def test_latest_crawl_rejects_unexpected_content(tmp_path, content):
    (tmp_path / "collinfo.json").write_text(content, encoding="utf-8")
    with pytest.raises(FatalError, match="collinfo.json"):
        latest_crawl(str(tmp_path / "collinfo.json"))


# redirects: within the host they are followed; to another host only if every address is public (no SSRF)


@pytest.fixture
def redirecting_server():
    """A loopback server whose /same/<path> redirects to /<path> on itself and /away/<url> to <url>."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            pass

        def do_GET(self):
            if self.path.startswith("/same/"):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/same"))
            elif self.path.startswith("/away/"):
                self.send_response(301)
                self.send_header("Location", self.path.removeprefix("/away/"))
            else:
                body = f"served {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_redirect_within_the_host_is_followed(redirecting_server):
    with open_stream(f"{redirecting_server}/same/data.bin", retries=0) as f:
        assert f.read() == b"served /data.bin"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2", "169.254.169.254", "10.0.0.1"])
def test_a_redirect_to_another_host_with_a_private_address_is_refused(redirecting_server, host):
    with pytest.raises(FatalError, match="redirect to .* refused"):
        with open_stream(f"{redirecting_server}/away/http://{host}:1/secret", retries=0) as f:
            f.read()


def test_a_redirect_to_a_non_http_scheme_is_refused(redirecting_server):
    with pytest.raises(FatalError, match="not an http"):
        read_range(f"{redirecting_server}/away/file:///etc/passwd", 0, 10, retries=0)
