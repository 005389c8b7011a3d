"""A round whose data dir is `s3://...` on an S3-compatible server process (moto's standalone server on loopback):
the same code as a local data dir (fsspec's s3fs), WARC tasks in forked worker processes, then a second round
from the page cache there."""

from __future__ import annotations

import fsspec
import pytest
from sqlmodel import select

from webrecall.core import db as dbm
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import index_path, pages_path
from webrecall.core.storage.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.services]
SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]


def test_a_remote_data_dir_needs_a_database_url():
    with pytest.raises(ValueError, match="WEBRECALL_DATABASE_URL"):
        _ = Settings(data_dir="s3://bucket/data", database_url="").db_url


def test_two_rounds_on_an_s3_data_dir(s3_bucket, corpus_server, tmp_path):
    settings = Settings(data_dir=f"{s3_bucket}/data", database_url=f"sqlite:///{tmp_path / 'w.db'}")
    dbm.migrate(settings.db_url)
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=2, seed_patterns=SEEDS)
    first = run_round(settings, create_round(settings, spec).id, processes=2)
    t = first.totals
    assert first.status == "done", first.error
    assert (t["warcs"], t["warcs_failed"], t["html_pages"], t["errors"]) == (2, 0, 1000, {})
    assert 0 < t["recalled"] < 1000

    fs, bucket = fsspec.filesystem("s3"), s3_bucket.removeprefix("s3://")
    written = {p.removeprefix(f"{bucket}/data/") for p in fs.find(f"{bucket}/data")}
    assert not [p for p in written if p.endswith(".tmp")]
    for folder, files in [("cache/", 4), ("rounds/1/index/", 2), ("rounds/1/partials/", 4), ("rounds/1/pages/", 2),
                          ("rounds/1/sigs/", 2)]:  # fmt: skip  (cache: the text and the token lines of each WARC)
        assert len([p for p in written if p.startswith(folder)]) == files, folder
    assert any(p.startswith("models/") and p.endswith("model.bin") for p in written)

    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        warcs = sorted({task.warc_url for task in db.exec(select(dbm.WarcTask))})
    index = [store.read_table(index_path(1, w), ["url", "kept"]) for w in warcs]
    urls = [u for table in index for u in table["url"].to_pylist()]
    assert len(urls) == len(set(urls)) == 1000
    kept = {u for table in index for u in table.filter(table["kept"])["url"].to_pylist()}
    shard = {u for w in warcs for u in store.read_table(pages_path(1, w), ["url"])["url"].to_pylist()}
    assert kept == shard and len(kept) == t["recalled"]

    second = run_round(settings, create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server,
                                                                  limit=2)).id, processes=2)  # fmt: skip
    assert second.status == "done", second.error
    assert second.totals["html_pages"] == 1000
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == second.id)).all()
    assert sorted(task.stats.get("cache_hit", 0) for task in tasks if task.phase == "index") == [1, 1]
