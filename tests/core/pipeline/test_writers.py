"""The export writer registry: every format named once, each writer a round trip of the batches it is given."""

from __future__ import annotations

import io
import json
from typing import get_args

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrecall.core.pipeline.writers import WRITERS, Format, get_writer
from webrecall.core.storage.layout import REDACTIONS

SCHEMA = pa.schema([("url", pa.string()), ("text", pa.string()), ("score", pa.float32()), ("round", pa.int32()),
                    ("redactions", REDACTIONS)])  # fmt: skip
BATCHES = [
    pa.RecordBatch.from_pylist([{"url": "https://a.example/x", "text": "def f():\n    return 1", "score": 0.9,
                                 "round": 1, "redactions": [("email", 2)]},
                                {"url": "https://b.example/", "text": "ünïcode", "score": None, "round": 1,
                                 "redactions": None}], schema=SCHEMA),
    pa.RecordBatch.from_pylist([{"url": "https://c.example/", "text": "", "score": 0.123456789, "round": 2,
                                 "redactions": []}], schema=SCHEMA),
]  # fmt: skip


def test_the_formats_the_adapters_accept_are_the_registry() -> None:
    assert set(get_args(Format)) == set(WRITERS)
    with pytest.raises(ValueError, match="unknown format 'csv'; valid: jsonl, parquet"):
        get_writer("csv")


def test_jsonl_writes_one_object_per_row_with_scores_at_six_decimals() -> None:
    out = io.BytesIO()
    with get_writer("jsonl")(out, SCHEMA) as writer:
        for batch in BATCHES:
            writer.write(batch)
    rows = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert [r["url"] for r in rows] == ["https://a.example/x", "https://b.example/", "https://c.example/"]
    assert [r["score"] for r in rows] == [0.9, None, 0.123457] and rows[1]["text"] == "ünïcode"
    assert [r["redactions"] for r in rows] == [{"email": 2}, None, {}]  # a map column as an object
    assert "ünïcode".encode() in out.getvalue()  # not escaped


def test_parquet_writes_a_row_group_per_batch_and_reads_back_whole() -> None:
    out = io.BytesIO()
    with get_writer("parquet")(out, SCHEMA) as writer:
        for batch in BATCHES:
            writer.write(batch)
    out.seek(0)
    assert pq.ParquetFile(out).num_row_groups == 2
    out.seek(0)
    assert pq.read_table(out).equals(pa.Table.from_batches(BATCHES))
