"""Export formats, chosen by name from one registry that the CLI's `export` (a file) and the API's stream (bytes sent
as they are written) share. A format is a small class: it takes a binary sink and the batches' schema, writes record
batches as they come (constant memory) and finishes on `close`; add it to `WRITERS` and to `Format`.
"""

from __future__ import annotations

import json
from typing import IO, ClassVar, Literal

import pyarrow as pa
import pyarrow.parquet as pq

Format = Literal["jsonl", "parquet"]
"""The registry's names, for the API's and the CLI's parameter types (a test keeps the two in step)."""


class Writer:
    name: ClassVar[str]
    media_type: ClassVar[str]

    def __init__(self, out: IO[bytes], schema: pa.Schema) -> None:
        self.out, self.schema = out, schema

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (a footer); the sink itself stays open."""

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonlWriter(Writer):
    """One JSON object per row, in schema order; float32 columns (scores) at the 6 decimals they hold, map columns
    (redactions by kind) as objects."""

    name, media_type = "jsonl", "application/x-ndjson"

    def write(self, batch: pa.RecordBatch) -> None:
        floats = [f.name for f in batch.schema if f.type == pa.float32()]
        maps = [f.name for f in batch.schema if pa.types.is_map(f.type)]
        for row in batch.to_pylist():
            for name in floats:
                if row[name] is not None:
                    row[name] = round(float(row[name]), 6)
            for name in maps:
                if row[name] is not None:
                    row[name] = dict(row[name])
            self.out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")


class ParquetWriter(Writer):
    """One zstd row group per batch."""

    name, media_type = "parquet", "application/vnd.apache.parquet"

    def __init__(self, out: IO[bytes], schema: pa.Schema) -> None:
        super().__init__(out, schema)
        self._writer = pq.ParquetWriter(out, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


WRITERS: dict[str, type[Writer]] = {w.name: w for w in (JsonlWriter, ParquetWriter)}


def get_writer(name: str) -> type[Writer]:
    try:
        return WRITERS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; valid: {', '.join(sorted(WRITERS))}") from None
