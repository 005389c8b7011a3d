"""The data dir on an S3-compatible server process (moto's standalone server on loopback), through the same fsspec
code as a local data dir: range reads return the bytes local disk does, and a write is atomic there too (a failed
write leaves no file, a failed rewrite leaves the old one)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.conftest import CORPUS
from webrecall.core.crawl.sources import open_stream, read_range
from webrecall.core.crawl.warc import iter_pages
from webrecall.core.errors import NotFoundError, SkippableError
from webrecall.core.page import Stats
from webrecall.core.storage.store import Store

pytestmark = pytest.mark.services
WARC = CORPUS / "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00007.warc.gz"
SCHEMA = pa.schema([("n", pa.int64()), ("text", pa.string())])


def _table(n: int, tag: str) -> pa.Table:
    return pa.table({"n": list(range(n)), "text": [f"{tag}-{i}" * 50 for i in range(n)]}, schema=SCHEMA)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    root = request.getfixturevalue("s3_bucket") + "/data" if request.param == "s3" else str(tmp_path / "data")
    return Store(root)


def test_tables_round_trip_by_columns_and_row_groups(store):
    store.write_table("rounds/1/index/a.parquet", _table(10_000, "a"))
    with store.writer("rounds/1/index/b.parquet", SCHEMA) as w:
        for part in range(4):  # one row group each
            w.write_table(_table(2_500, f"b{part}"))
    assert store.list("rounds/1/index") == ["rounds/1/index/a.parquet", "rounds/1/index/b.parquet"]
    assert store.read_table("rounds/1/index/a.parquet", columns=["n"]).column_names == ["n"]
    assert store.read_table("rounds/1/index/a.parquet").equals(_table(10_000, "a"))
    batches = list(store.iter_batches("rounds/1/index/b.parquet", columns=["text"], batch_size=1000))
    assert sum(b.num_rows for b in batches) == 10_000 and batches[-1].column(0)[-1].as_py() == "b3-2499" * 50
    assert store.column_names("rounds/1/index/b.parquet") == ["n", "text"]
    store.remove("rounds/1/index/a.parquet")
    assert not store.exists("rounds/1/index/a.parquet") and store.list("rounds/1/index") == ["rounds/1/index/b.parquet"]


@pytest.mark.parametrize("rows", [100, 300_000])  # one PUT's worth, and a multipart upload (> 5 MiB)
def test_a_failed_write_leaves_no_file_and_a_failed_rewrite_the_old_one(store, rows):
    with pytest.raises(RuntimeError), store.writer("cache/w.parquet", SCHEMA) as w:
        w.write_table(_table(rows, "partial"))
        raise RuntimeError("the worker died mid-file")
    assert not store.exists("cache/w.parquet") and store.list("cache") == []
    store.write_table("cache/w.parquet", _table(rows, "old"))
    with pytest.raises(RuntimeError), store.row_writer("cache/w.parquet", SCHEMA, batch=10) as w:
        for i in range(25):
            w.add({"n": i, "text": "new"})
        raise RuntimeError("the worker died mid-file")
    assert store.read_table("cache/w.parquet").equals(_table(rows, "old"))
    assert store.list("cache") == ["cache/w.parquet"]


def test_warc_records_read_by_range_and_streamed_as_from_local_disk(s3_bucket):
    import fsspec

    remote = f"{s3_bucket}/crawl-data/{WARC.name}"
    fsspec.filesystem("s3").put_file(str(WARC), remote)
    local_pages = list(iter_pages(WARC.open("rb"), warc_path=str(WARC), stats=Stats()))
    with open_stream(remote) as stream:
        remote_pages = list(iter_pages(stream, warc_path=remote, stats=Stats()))
    assert len(remote_pages) == len(local_pages) == 304
    assert [(p.url, p.offset, p.length, p.html) for p in remote_pages] == [
        (p.url, p.offset, p.length, p.html) for p in local_pages
    ]
    data = WARC.read_bytes()
    for page in local_pages[::50]:
        assert read_range(remote, page.offset, page.length) == data[page.offset : page.offset + page.length]
    with pytest.raises(SkippableError, match="past the end"):
        read_range(remote, len(data) - 10, 100)
    with pytest.raises(NotFoundError):
        read_range(f"{s3_bucket}/crawl-data/missing.warc.gz", 0, 10)
