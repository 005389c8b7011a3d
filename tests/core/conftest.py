"""Shared fixtures: the labelled pages of the dev crawl, extracted once and cached under /tmp."""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS

DEV_LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"


def _body(path: Path, offset: int, length: int) -> str:
    from webrecall.core.crawl.warc import read_page

    with path.open("rb") as f:
        f.seek(offset)
        page = read_page(f.read(length), warc_path=str(path), offset=offset)
    return page.html if page else ""


def load_labelled(labels: Path = DEV_LABELS, extractor: str = "resiliparse") -> tuple[list[str], list[bool], list[str]]:
    """(texts, labels, urls) of a labelled crawl; texts cached in a pickle keyed by the labels' mtime."""
    from webrecall.core.text.extract import extract

    extract_py = Path(__file__).parents[2] / "webrecall" / "core" / "text" / "extract.py"
    code = hashlib.sha1(extract_py.read_bytes()).hexdigest()
    key = hashlib.sha1(f"{labels}:{labels.stat().st_mtime_ns}:{extractor}:{code}".encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"webrecall-{labels.stem}-{extractor}-{key}.pkl"
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)
    rows = [json.loads(line) for line in labels.open(encoding="utf-8") if line.strip()]
    texts = [extract(_body(CORPUS / r["warc"], r["offset"], r["length"]), extractor) for r in rows]
    result = (texts, [r["label"] == "code" for r in rows], [r["url"] for r in rows])
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(result, f)
    tmp.replace(cache)
    return result


def export_rows(settings, number: int, **kw: bool) -> list[dict]:  # type: ignore[no-untyped-def]
    """A round's JSONL export as rows (`webrecall.core.lifecycle.export.export` with `kw`), as many as it said."""
    import io

    from webrecall.core.lifecycle.export import export

    buf = io.BytesIO()
    n = export(settings, number, buf, **kw)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert len(rows) == n
    return rows


@pytest.fixture(scope="session")
def dev_pages() -> tuple[list[str], list[bool], list[str]]:
    """The CC-MAIN-DEV pages as resiliparse text (the scoring extractor): (texts, labels, urls)."""
    return load_labelled(DEV_LABELS, "resiliparse")


@pytest.fixture(scope="session")
def dev_plain_pages() -> tuple[list[str], list[bool], list[str]]:
    """The same pages without the ``` fence lines around code blocks (the text an export gives by default)."""
    return load_labelled(DEV_LABELS, "resiliparse-plain")


@pytest.fixture
def db_url(tmp_path):
    """A fresh SQLite database with one round (the queue's and the page items' tests)."""
    from webrecall.core import db as dbm

    url = f"sqlite:///{tmp_path / 'q.db'}"
    dbm.migrate(url)
    with dbm.session(url) as db:
        db.add(dbm.Round(number=1))
        db.commit()
    return url

