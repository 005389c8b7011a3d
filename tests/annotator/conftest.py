"""A small labelled world for the annotator, built from real CC-MAIN-DEV pages: one finished round over two DEV
WARC files (their page cache extracted by the pipeline's own `index_warc`, scored by a fastText model trained on a
third DEV file's labelled pages), four queued domains (one for double labelling, one gold item) and four accounts.

Built once per session (bcrypt is slow on purpose; the trained model is cached under /tmp) and copied per test.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import CORPUS
from webrecall.core.crawl.ccindex import build_index
from webrecall.core.db import DomainStat, QueueItem, Round, WarcTask, migrate, session
from webrecall.core.labelling import accounts, claims, decisions, queue, review
from webrecall.core.model.classifier import Classifier
from webrecall.core.model.prior import code_prior
from webrecall.core.page import Stats
from webrecall.core.pipeline.passes import index_warc
from webrecall.core.settings import FastTextParams, Settings
from webrecall.core.storage.layout import INDEX_SCHEMA, index_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import parse

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "webrecall" / "annotator" / "streamlit_app.py")
SERVER = str(ROOT / "webrecall" / "annotator" / "server.py")
"""What `webrecall annotator` serves: the app with its session-cookie routes."""
DEV = CORPUS / "crawl-data" / "CC-MAIN-DEV" / "segments" / "1716000000000.0" / "warc"
ROUND_WARCS = [str(DEV / "CC-MAIN-DEV-00000.warc.gz"), str(DEV / "CC-MAIN-DEV-00001.warc.gz")]
TRAIN_WARC = str(DEV / "CC-MAIN-DEV-00002.warc.gz")
LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
MODEL_CODE = ("model/classifier.py", "text/tokenizer.py", "text/features.py", "text/extract.py", "pipeline/passes.py")
"""The code a cached model and its page texts depend on."""
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "rita": "rita-password", "ada": "ada-password"}
ROLES = {"alice": "annotator", "bob": "annotator", "rita": "reviewer", "ada": "admin"}
KERNEL, POSTGRES, NEWS, GOLD = "mirrors.edge.kernel.org", "www.postgresql.org", "www.nbcnews.com", "docs.python.org"
GIT_DOCS = f"{KERNEL}/pub/software/scm/git/docs/"
QUEUE = [  # domain, priority, kind, labels_needed
    (KERNEL, 3.0, "uncertain", 1),  # every page under /pub/software/scm/git/docs/
    (POSTGRES, 2.0, "uncertain", 2),  # every page under /docs/15/, double labelled
    (NEWS, 1.0, "audit", 1),  # three news articles
]


@dataclass(slots=True)
class World:
    settings: Settings
    db_url: str
    data_dir: Path


def _labels() -> dict[str, bool]:
    rows = (json.loads(line) for line in LABELS.open(encoding="utf-8") if line.strip())
    return {r["url"]: r["label"] == "code" for r in rows}


def _model(store: Store) -> Classifier:
    """A small round-1-like model trained on TRAIN_WARC's labelled pages (cached: training takes ~30 s)."""
    code = b"".join((ROOT / "webrecall" / "core" / name).read_bytes() for name in MODEL_CODE)  # a change retrains
    key = hashlib.sha1(f"{LABELS.stat().st_mtime_ns}:{TRAIN_WARC}:v1:".encode() + code).hexdigest()[:16]
    cached = Path(tempfile.gettempdir()) / f"webrecall-annotator-model-{key}"
    if (cached / "meta.json").exists():
        return Classifier.load(cached)
    labels = _labels()
    rows = pq.read_table(store.path(index_warc(TRAIN_WARC, store=store, stats=Stats())), columns=["url", "text"])
    pairs = [(r["text"], labels[r["url"]]) for r in rows.to_pylist() if r["url"] in labels]
    model = Classifier.train([t for t, _ in pairs], [y for _, y in pairs], params=FastTextParams(threads=1),
                             vocab_size=4000)  # fmt: skip
    model.save(cached.with_suffix(".tmp"))
    shutil.rmtree(cached, ignore_errors=True)
    cached.with_suffix(".tmp").rename(cached)
    return model


def _build(root: Path) -> None:
    settings = Settings(data_dir=str(root / "data"), database_url=f"sqlite:///{root / 'webrecall.db'}")
    migrate(settings.db_url)
    store = Store(settings.data_dir)
    model = _model(store)
    labels = _labels()
    pages: list[dict] = []
    for loc in ROUND_WARCS:
        cache = pq.read_table(store.path(index_warc(loc, store=store, stats=Stats())))
        scores = model.score(cache["text"].to_pylist())
        idx = cache.append_column("score", pa.array(scores, pa.float32())).append_column(
            "kept", pc.greater_equal(pa.array(scores, pa.float32()), 0.5)
        ).append_column("prior", pa.array(code_prior(cache["signals"].to_pylist(), cache["text"].to_pylist())))
        store.write_table(index_path(1, loc), idx.select(INDEX_SCHEMA.names).cast(INDEX_SCHEMA))
        pages += idx.select(["url", "domain", "score", "kept"]).to_pylist()
    known = [(p["kept"], labels[p["url"]]) for p in pages if p["url"] in labels]
    tp = sum(k and y for k, y in known)
    precision, recall = tp / max(sum(k for k, _ in known), 1), tp / max(sum(y for _, y in known), 1)
    heldout = {"precision": round(precision, 4), "recall": round(recall, 4),
               "f1": round(2 * precision * recall / (precision + recall), 4)}  # fmt: skip
    by_domain = Counter(p["domain"] for p in pages)
    kept = Counter(p["domain"] for p in pages if p["kept"])
    with session(settings.db_url) as db:
        rnd = Round(number=1, status="done", crawl_id="CC-MAIN-DEV", totals={
            "recalled": sum(kept.values()), "related_domains": sum(kept[d] / n > 0.1 for d, n in by_domain.items()),
            "model": {"version": "r1", "seed_heldout": heldout}})  # fmt: skip
        db.add(rnd)
        db.commit()
        for loc in ROUND_WARCS:
            db.add(WarcTask(round_id=rnd.id, phase="recall", warc_url=loc, status="done"))
        for domain, n in sorted(by_domain.items()):
            db.add(DomainStat(round_id=rnd.id, domain=domain, site=domain, pages=n, recalled=kept[domain],
                              fraction=kept[domain] / n))  # fmt: skip
        db.commit()
        queue.enqueue(db, [QueueItem(round_id=rnd.id or 0, domain=d, priority=p, kind=k, labels_needed=n,
                                     reason="near_threshold" if k == "uncertain" else "audit:none",
                                     details={"pages": by_domain[d], "recalled": kept[d], "mid_scores": 0.4,
                                              "uncertainty": 0.5})
                           for d, p, k, n in QUEUE])  # fmt: skip
        review.add_gold(db, rnd.id or 0, GOLD, {f"{GOLD}/": "code"}, priority=0.5)
        for name, password in PASSWORDS.items():
            accounts.create_account(db, name, password, ROLES[name])
    session(settings.db_url).connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("annotator-world")
    _build(root)
    return root


@pytest.fixture(scope="session")
def dev_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The columnar URL index of CC-MAIN-DEV's 8 WARC files (the world's round read 2 of them)."""
    out = tmp_path_factory.mktemp("dev-index")
    build_index(CORPUS, out, crawls=["CC-MAIN-DEV"], row_group_rows=200, languages=False)
    return str(out)


@pytest.fixture
def world(world_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A fresh copy of the world; the app reads it through WEBRECALL_DATABASE_URL / WEBRECALL_DATA_DIR."""
    shutil.copy(world_template / "webrecall.db", tmp_path / "webrecall.db")
    shutil.copytree(world_template / "data", tmp_path / "data")
    db_url = f"sqlite:///{tmp_path / 'webrecall.db'}"
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", db_url)
    monkeypatch.setenv("WEBRECALL_DATA_DIR", str(tmp_path / "data"))
    yield World(Settings(), db_url, tmp_path / "data")


def title(at: AppTest) -> str:
    """The page's h1 as the annotator reads it: the item's (an escaped HTML heading) or the page's own."""
    heading = next((m.value for m in at.markdown if m.value.startswith("<h1>")), None)
    return html.unescape(heading[4:-5]) if heading is not None else at.title[0].value


def dev_pages_under(pattern: str) -> int:
    """A pattern's pages across CC-MAIN-DEV's 8 WARC files, from the labels (every page has one): what the crawl's
    URL index must count for it."""
    pat = parse(pattern)
    return sum(pat.matches(u) for u in _dev_urls())


@functools.cache
def _dev_urls() -> tuple[str, ...]:
    return tuple(json.loads(line)["url"] for line in LABELS.open(encoding="utf-8"))


def disagree_on_postgres(world: World) -> None:
    """Every queued domain decided by alice and bob; they disagree on www.postgresql.org (code vs mixed): one open
    case for the Review page."""
    with session(world.db_url) as db:
        for name, forum in (("alice", "code"), ("bob", "mixed")):
            while (item := claims.next_item(db, name)) is not None:
                decisions.decide_domain(db, item, name, forum if item.domain == POSTGRES else "code")
