"""The recalled corpus of a round, streamed (constant memory for any size), resumable with a cursor."""

from __future__ import annotations

from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import StreamingResponse

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, SettingsDep
from webrecall.api.routes import errors
from webrecall.api.streams import written
from webrecall.core.lifecycle.export import EXPORT_SCHEMA, recalled_from
from webrecall.core.pipeline.writers import Format, get_writer
from webrecall.core.queries import find_round

router = APIRouter(prefix="/exports", tags=["exports"])
CURSOR = r"^\d{1,9}\.\d{1,12}$"
STREAMS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSONL (one page per line, each with the `cursor` to resume after it) or Parquet",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}},
    }
}  # fmt: skip


@router.get("/rounds/{number}/pages", response_class=StreamingResponse, responses={**STREAMS, **errors(404, 409)})
def export_pages(
    number: Annotated[int, Path(ge=1, le=schemas.INT32)],
    settings: SettingsDep, db: SessionDep,
    format: Annotated[Format, Query()] = "jsonl",  # noqa: A002 - the query parameter
    min_score: Annotated[float | None, Query(ge=0, le=1, description="Floor above the round's threshold")] = None,
    cursor: Annotated[str | None, Query(pattern=CURSOR, description="Resume after the row with this cursor")] = None,
    dedup: Annotated[bool, Query(description="Leave out removed copies (exact URL, exact text, near-dup)")] = True,
    decontaminate: Annotated[bool, Query(description="Leave out pages overlapping a benchmark")] = True,
    fences: Annotated[bool, Query(description="Keep code blocks as ``` fenced blocks in the text")] = False,
    redact: Annotated[bool, Query(description="Replace secrets, e-mail and IP addresses by typed placeholders "
                                              "(`<SECRET:kind>`, `<EMAIL>`, `<IP_ADDRESS>`)")] = True,
) -> StreamingResponse:  # fmt: skip
    """Recalled pages with lineage (round, model version, score, WARC location): url, domain, title, text, ...;
    secrets and personal data in the text replaced by placeholders unless `redact=false`, each row's `redactions`
    counting them by kind."""
    rnd = find_round(db, number)
    if rnd is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {number}")
    if rnd.status != "done":
        raise HTTPException(status.HTTP_409_CONFLICT, f"round {number} is {rnd.status}, not done")
    shard, row = (int(x) for x in cursor.split(".")) if cursor else (0, 0)
    batches = recalled_from(settings, number, min_score=min_score, shard=shard, row=row, dedup=dedup,
                            decontaminate=decontaminate, fences=fences, redact=redact)
    writer = get_writer(format)
    if writer.name == "jsonl":  # each line says where to resume after it
        body = written(writer, (_with_cursors(*b) for b in batches), EXPORT_SCHEMA.append(CURSOR_FIELD))
    else:
        body = written(writer, (b for _, b, _ in batches), EXPORT_SCHEMA)
    name = f"webrecall-round-{number}-pages.{writer.name}"
    return StreamingResponse(body, media_type=writer.media_type,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


CURSOR_FIELD = pa.field("cursor", pa.string())


def _with_cursors(index: int, batch: pa.RecordBatch, numbers: pa.Array) -> pa.RecordBatch:
    cursors = pa.array([f"{index}.{n + 1}" for n in numbers.to_pylist()], pa.string())
    return pa.RecordBatch.from_arrays([*batch.columns, cursors], schema=batch.schema.append(CURSOR_FIELD))
