"""Streaming bodies with constant memory: JSONL lines, Parquet row groups, a tar of files."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.responses import StreamingResponse

CHUNK = 1 << 20


class NDJSONResponse(StreamingResponse):
    media_type = "application/x-ndjson"


class ParquetResponse(StreamingResponse):
    media_type = "application/vnd.apache.parquet"


class TarResponse(StreamingResponse):
    media_type = "application/x-tar"


class OctetResponse(StreamingResponse):
    media_type = "application/octet-stream"


def jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield json.dumps(row, default=str, ensure_ascii=False).encode() + b"\n"


class _Sink:
    """A write-only file that hands its bytes over after each write (ParquetWriter writes into it)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def parquet(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    """One row group per batch, each sent as soon as it is written; the footer last."""
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for batch in batches:
            writer.write_batch(batch)
            if data := sink.drain():
                yield data
    finally:
        writer.close()
    yield sink.drain()


def tar(files: Iterable[tuple[str, int, Iterable[bytes]]]) -> Iterator[bytes]:
    """A ustar stream of (name, size, chunks): header, body, padding per file, then the end-of-archive blocks."""
    for name, size, chunks in files:
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o644
        yield info.tobuf(format=tarfile.USTAR_FORMAT)
        sent = 0
        for chunk in chunks:
            sent += len(chunk)
            yield chunk
        if sent != size:
            raise OSError(f"{name} changed while it was sent ({sent} of {size} bytes)")
        if size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
