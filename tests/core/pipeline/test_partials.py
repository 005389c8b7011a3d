"""A round's page index read over its WARC files: a shard written before a column existed reads it as nulls."""

from __future__ import annotations

import json

import pyarrow as pa

from tests.core.conftest import DEV_LABELS
from webrecall.core.pipeline.partials import round_index
from webrecall.core.storage.layout import INDEX_SCHEMA, index_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.domains import split_url


def test_an_index_written_before_the_prior_reads_it_as_nulls(tmp_path) -> None:
    rows = [json.loads(line) for line in DEV_LABELS.open(encoding="utf-8")][:20]
    store = Store(str(tmp_path))
    old = [f for f in INDEX_SCHEMA if f.name != "prior"]
    table = pa.table({"url": [r["url"] for r in rows], "domain": [split_url(r["url"])[0] for r in rows],
                      "score": [0.5] * len(rows), "kept": [True] * len(rows)})  # fmt: skip
    full = {f.name: table[f.name] if f.name in table.column_names else pa.nulls(len(rows), f.type) for f in old}
    store.write_table(index_path(1, "old.warc.gz"), pa.table(full, schema=pa.schema(old)))
    new = pa.table({**full, "prior": pa.array([0.25] * len(rows), pa.float32())}, schema=INDEX_SCHEMA)
    store.write_table(index_path(1, "new.warc.gz"), new)
    got = round_index(store, 1, ["old.warc.gz", "new.warc.gz"], columns=["url", "score", "prior"])
    assert got.column_names == ["url", "score", "prior"] and got.num_rows == 2 * len(rows)
    assert got["prior"].to_pylist() == [None] * len(rows) + [0.25] * len(rows)
    assert got["url"].to_pylist()[: len(rows)] == [r["url"] for r in rows]
