"""Streaming bodies with constant memory: JSONL lines, a core export writer's output, a tar of files."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
from fastapi.responses import StreamingResponse

from webrecall.core.pipeline.writers import Writer

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


def written(writer: type[Writer], batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    """Batches through an export writer of the core's registry (`pipeline.writers`), each batch's bytes sent as soon
    as it is written; what `close` adds (a Parquet footer) last."""
    sink = _Sink()
    out = writer(sink, schema)  # type: ignore[arg-type]  # a file-like sink
    try:
        for batch in batches:
            out.write(batch)
            if data := sink.drain():
                yield data
    finally:
        out.close()
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
