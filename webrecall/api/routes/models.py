"""Models: metadata (params, held-out metrics) and a streamed download of the files a scorer needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import StreamingResponse
from sqlmodel import col, select

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, SettingsDep
from webrecall.api.routes import errors
from webrecall.api.streams import CHUNK, tar
from webrecall.api.views import model_public
from webrecall.core.db import Model, Round
from webrecall.core.storage.store import Store

router = APIRouter(prefix="/models", tags=["models"])
FILES = ("model.bin", "tokenizer.json", "meta.json")
ModelRef = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="Model id or version")]
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A tar of model.bin, tokenizer.json and meta.json, or the one file asked for",
        "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}  # fmt: skip


def _round_no(db: SessionDep, model: Model) -> int | None:
    rnd = db.get(Round, model.round_id) if model.round_id else None
    return rnd.number if rnd else None


def _get(db: SessionDep, ref: str) -> Model:
    model = db.get(Model, int(ref)) if ref.isdigit() and len(ref) < 10 else None
    model = model or db.exec(select(Model).where(Model.version == ref)).first()
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {ref}")
    return model


@router.get("")
def list_models(db: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> schemas.ModelsPublic:
    """Models, newest first."""
    rows = db.exec(select(Model).order_by(col(Model.id).desc()).limit(limit)).all()
    return schemas.ModelsPublic(data=[model_public(m, _round_no(db, m)) for m in rows], count=len(rows))


@router.get("/{ref}", responses=errors(404))
def get_model(ref: ModelRef, db: SessionDep) -> schemas.ModelPublic:
    """A model's version, round, fastText parameters and held-out metrics."""
    model = _get(db, ref)
    return model_public(model, _round_no(db, model))


@router.get("/{ref}/download", response_class=StreamingResponse, responses={**DOWNLOAD, **errors(404)})
def download_model(
    ref: ModelRef, settings: SettingsDep, db: SessionDep,
    file: Annotated[Literal["model.bin", "tokenizer.json", "meta.json"] | None, Query()] = None,
) -> StreamingResponse:  # fmt: skip
    """Stream the model directory as a tar (what `Classifier.load` reads), or one of its files."""
    model = _get(db, ref)
    store = Store(settings.data_dir)
    names = [file] if file else list(FILES)
    sizes: dict[str, int] = {}
    for name in names:
        try:
            sizes[name] = int(store.fs.size(store.path(model.path, name)))
        except FileNotFoundError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"model {model.version} has no {name}") from None

    def chunks(name: str) -> Iterator[bytes]:
        with store.fs.open(store.path(model.path, name), "rb") as fh:
            while data := fh.read(CHUNK):
                yield data

    if file:
        return StreamingResponse(chunks(file), media_type="application/octet-stream", headers={
            "Content-Length": str(sizes[file]), "Content-Disposition": f'attachment; filename="{file}"'})  # fmt: skip
    body = tar((f"{model.version}/{n}", sizes[n], chunks(n)) for n in names)
    disposition = f'attachment; filename="{model.version}.tar"'
    return StreamingResponse(body, media_type="application/x-tar", headers={"Content-Disposition": disposition})
