"""`webrecall mirror` over loopback: byte ranges as Common Crawl serves them, the overlay, the byte counts."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
import requests

from webrecall.mirror.server import serve

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"  # as in tests/conftest.py
PATHS = "crawl-data/CC-MAIN-DEV/warc.paths.gz"


@pytest.fixture
def mirror(tmp_path):
    (tmp_path / "crawl-data/CC-MAIN-DEV").mkdir(parents=True)
    (tmp_path / "crawl-data/CC-MAIN-DEV/extra.txt").write_bytes(b"from the overlay")
    (tmp_path / PATHS).write_bytes(b"shadowed by the corpus")
    server, url = serve(str(CORPUS), index_dir=str(tmp_path))
    yield server, url
    server.shutdown()
    server.server_close()


def test_ranges_single_suffix_multiple_and_past_the_end(mirror):
    server, url = mirror
    data = (CORPUS / PATHS).read_bytes()
    size = len(data)
    whole = requests.get(url + PATHS, timeout=10)
    assert whole.status_code == 200 and whole.content == data and whole.headers["Accept-Ranges"] == "bytes"
    one = requests.get(url + PATHS, headers={"Range": "bytes=10-19"}, timeout=10)
    assert one.status_code == 206 and one.content == data[10:20]
    assert one.headers["Content-Range"] == f"bytes 10-19/{size}"
    assert requests.get(url + PATHS, headers={"Range": "bytes=-7"}, timeout=10).content == data[-7:]
    assert requests.get(url + PATHS, headers={"Range": "bytes=100-"}, timeout=10).content == data[100:]
    multi = requests.get(url + PATHS, headers={"Range": "bytes=0-1,5-6"}, timeout=10)
    assert multi.status_code == 206 and multi.headers["Content-Type"].startswith("multipart/byteranges")
    assert data[0:2] in multi.content and data[5:7] in multi.content
    past = requests.get(url + PATHS, headers={"Range": f"bytes={size}-"}, timeout=10)
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{size}"
    stale = requests.get(url + PATHS, headers={"Range": "bytes=0-0", "If-Range": '"another-etag"'}, timeout=10)
    assert stale.status_code == 200 and stale.content == data  # the file changed: the whole of it
    fresh = requests.get(url + PATHS, headers={"Range": "bytes=0-0", "If-Range": whole.headers["ETag"]}, timeout=10)
    assert fresh.status_code == 206 and fresh.content == data[:1]
    assert requests.head(url + PATHS, timeout=10).headers["Content-Length"] == str(size)


def test_overlay_and_counts(mirror):
    server, url = mirror
    server.bytes_served.clear()
    assert requests.get(url + "crawl-data/CC-MAIN-DEV/extra.txt", timeout=10).content == b"from the overlay"
    assert requests.get(url + PATHS, headers={"Range": "bytes=0-3"}, timeout=10).status_code == 206
    assert requests.get(url + "crawl-data/nothing-here", timeout=10).status_code == 404
    assert requests.get(url + "CC-MAIN-NONE-index", params={"url": "a.example/"}, timeout=10).status_code == 404
    assert server.bytes_served["/crawl-data/CC-MAIN-DEV/extra.txt"] == len(b"from the overlay")
    assert server.bytes_served["/" + PATHS] == 4  # the corpus wins over the overlay, and a range counts its bytes
    assert "/crawl-data/nothing-here" not in server.bytes_served and server.bytes_served["cdx"] > 0


@pytest.mark.parametrize(
    "path", ["/../corpus/README.md", "/%2e%2e/corpus/README.md", "/crawl-data/../../corpus/README.md", "/crawl-data"]
)
def test_nothing_outside_the_folders_and_no_directories(mirror, path):
    """Each path names a real file (`CORPUS/../corpus/README.md`) if `..` could leave the root."""
    server, _ = mirror
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", path)
    assert conn.getresponse().status == 404
