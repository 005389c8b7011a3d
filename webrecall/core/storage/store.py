"""Bulk files under the data dir (a local path or any fsspec URL): Parquet shards, models, exports.

The layout (which file lives where, with which schema) is `webrecall.core.storage.layout`.
Writes are atomic: a file appears whole or not at all, and a failed rewrite leaves the old one (local: a temp file
beside it, renamed; an object store: an upload completed only on success, aborted otherwise).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RowWriter:
    """Buffers rows and writes them to a Parquet writer `batch` at a time; `written` counts the rows written."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema, batch: int) -> None:
        self._writer, self._schema, self._batch = writer, schema, batch
        self._rows: list[dict] = []
        self.written = 0

    def add(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self.written += len(self._rows)
            self._rows = []


def warc_id(location: str) -> str:
    """A stable, file-name-safe id for a WARC location: readable basename + short hash of the full path."""
    base = posixpath.basename(location.rstrip("/")) or "warc"
    for ext in (".warc.gz", ".warc.lz4", ".warc", ".arc.gz", ".arc", ".gz"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    digest = hashlib.sha1(location.encode()).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', base)[:80]}-{digest}"


class Store:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.root)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def path(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts)

    def url(self, *parts: str) -> str:
        """The location as a URL/path other processes can open (fsspec-style)."""
        return self.fs.unstrip_protocol(self.path(*parts)) if not self.local else self.path(*parts)

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.path(rel)))

    def makedirs(self, rel: str) -> None:
        self.fs.makedirs(self.path(rel), exist_ok=True)

    def write_table(self, rel: str, table: pa.Table) -> None:
        with self._atomic(self.path(rel)) as fh:
            pq.write_table(table, fh, compression="zstd")

    @contextmanager
    def writer(self, rel: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
        """Stream row groups into `rel`; the file appears only on success."""
        with self._atomic(self.path(rel)) as fh, pq.ParquetWriter(fh, schema, compression="zstd") as pw:
            yield pw

    @contextmanager
    def _atomic(self, target: str) -> Iterator[Any]:
        """A file handle whose bytes reach `target` only if the block ends without an exception. An object store
        would publish an interrupted `with fs.open(...)` (closing the file completes the upload): there the upload
        is a multipart one (fsspec's `autocommit=False`), committed or aborted here."""
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if self.local:  # fsspec's own temp file lives in the system temp dir: a rename beside the target is atomic
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            try:
                with self.fs.open(tmp, "wb") as fh:
                    yield fh
                self.fs.mv(tmp, target)
            finally:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            return
        fh = self.fs.open(target, "wb", autocommit=False)
        try:
            with fh:
                yield fh
        except BaseException:
            fh.discard()
            raise
        fh.commit()

    @contextmanager
    def row_writer(self, rel: str, schema: pa.Schema, batch: int) -> Iterator[RowWriter]:
        """`writer` fed one row (a dict) at a time: a row group per `batch` rows, the rest on success."""
        with self.writer(rel, schema) as pw:
            rows = RowWriter(pw, schema, batch)
            yield rows
            rows.flush()

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        with self.fs.open(self.path(rel), "rb") as fh:
            return pq.read_table(fh, columns=columns)

    def column_names(self, rel: str) -> list[str]:
        """The columns of a Parquet file, from its footer."""
        return list(pq.read_schema(self.path(rel), filesystem=self.fs).names)

    def iter_batches(
        self, rel: str, columns: list[str] | None = None, batch_size: int = 2048
    ) -> Iterator[pa.RecordBatch]:
        with self.fs.open(self.path(rel), "rb") as fh:
            yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size, columns=columns)

    def list(self, rel: str, suffix: str = ".parquet") -> list[str]:
        """Relative paths under `rel` ending in `suffix`, sorted (temp files excluded)."""
        if not self.exists(rel):
            return []
        found = self.fs.find(self.path(rel))
        prefix = self.base.rstrip("/") + "/"
        return sorted(p[len(prefix):] if p.startswith(prefix) else p for p in found if p.endswith(suffix))

    def remove(self, rel: str) -> None:
        if self.exists(rel):
            self.fs.rm(self.path(rel), recursive=True)

    def put_dir(self, local_dir: str, rel: str) -> None:
        self.fs.makedirs(self.path(rel), exist_ok=True)
        self.fs.put(local_dir.rstrip("/") + "/", self.path(rel), recursive=True)

    def get_dir(self, rel: str, local_dir: str) -> None:
        self.fs.get(self.path(rel) + "/", local_dir.rstrip("/") + "/", recursive=True)
