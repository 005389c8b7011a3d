"""A small labeled world for the annotator: one finished round over one (synthetic) WARC, its page index and
page cache, four queued domains (one for double labeling, one gold item) and four accounts.

Built once per session (bcrypt is slow on purpose) and copied for every test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from sqlmodel import select

from recall import annotators, queue
from recall.db import DomainStat, QueueItem, Round, WarcTask, migrate, session
from recall.pipeline import cache_path, index_path
from recall.settings import Settings
from recall.storage import Store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "annotator" / "streamlit_app.py")
WARC = "crawl-data/CC-MAIN-TEST/segments/0/warc/test-00000.warc.gz"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "rita": "rita-password", "ada": "ada-password"}
ROLES = {"alice": "annotator", "bob": "annotator", "rita": "reviewer", "ada": "admin"}
CODE_TEXT = "How to open a file\nUse the open() builtin:\nwith open(path) as f:\n    data = f.read()\nThat is all."
PROSE_TEXT = "Our summer trip\nWe walked along the river and had lunch.\nThe weather was great all week."

# (domain, path, score, text): docs.example.org is mostly code, blog.example.com mostly not
PAGES = [
    *[("docs.example.org", f"/guide/files/page{i}.html", 0.9 - i * 0.05, CODE_TEXT) for i in range(6)],
    *[("docs.example.org", f"/news/2024-05/item{i}.html", 0.2 + i * 0.05, PROSE_TEXT) for i in range(4)],
    *[("forum.example.net", f"/questions/{1000 + i}/how-to-{i}", 0.3 + i * 0.08, CODE_TEXT) for i in range(6)],
    *[("blog.example.com", f"/posts/trip-{i}.html", 0.1 + i * 0.04, PROSE_TEXT) for i in range(5)],
    *[("gold.example.io", f"/api/ref{i}.html", 0.95, CODE_TEXT) for i in range(3)],
]
QUEUE = [  # domain, priority, kind, labels_needed
    ("docs.example.org", 3.0, "uncertain", 1),
    ("forum.example.net", 2.0, "uncertain", 2),
    ("blog.example.com", 1.0, "audit", 1),
]


@dataclass(slots=True)
class World:
    settings: Settings
    db_url: str
    data_dir: Path


def _build(root: Path) -> None:
    settings = Settings(data_dir=str(root / "data"), database_url=f"sqlite:///{root / 'webrecall.db'}")
    migrate(settings.db_url)
    store = Store(settings.data_dir)
    urls = [f"https://{d}{p}" for d, p, _, _ in PAGES]
    store.write_table(index_path(1, WARC), pa.table({
        "url": urls, "domain": [d for d, *_ in PAGES], "score": pa.array([s for _, _, s, _ in PAGES], pa.float32()),
        "kept": [s >= 0.5 for _, _, s, _ in PAGES]}))  # fmt: skip
    store.write_table(cache_path(WARC), pa.table({
        "url": urls, "domain": [d for d, *_ in PAGES], "title": [p.rsplit("/", 1)[-1] for _, p, _, _ in PAGES],
        "text": [t for *_, t in PAGES]}))  # fmt: skip
    with session(settings.db_url) as db:
        rnd = Round(number=1, status="done", crawl_id="CC-MAIN-TEST", totals={
            "recalled": 14, "related_domains": 3, "growth": {"growth": 1.0},
            "model": {"version": "r1", "seed_heldout": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "roc_auc": 0.95}}})
        db.add(rnd)
        db.add(Round(number=0, status="done", totals={"recalled": 5, "related_domains": 1, "model": {
            "version": "r0", "seed_heldout": {"precision": 0.8, "recall": 0.5, "f1": 0.62, "roc_auc": 0.9}}}))
        db.commit()
        db.add(WarcTask(round_id=rnd.id, phase="recall", warc_url=WARC, status="done"))
        for domain in sorted({d for d, *_ in PAGES}):
            rows = [s for d, _, s, _ in PAGES if d == domain]
            kept = sum(s >= 0.5 for s in rows)
            db.add(DomainStat(round_id=rnd.id, domain=domain, site=domain, pages=len(rows), recalled=kept,
                              fraction=kept / len(rows)))  # fmt: skip
        db.commit()
        queue.enqueue(db, [QueueItem(round_id=rnd.id or 0, domain=d, priority=p, kind=k, labels_needed=n,
                                     reason="near_threshold", details={"pages": 10, "recalled": 4,
                                     "mid_scores": 0.4, "uncertainty": 0.5})
                           for d, p, k, n in QUEUE])  # fmt: skip
        annotators.add_gold(db, rnd.id or 0, "gold.example.io", {"gold.example.io/": "code"}, priority=0.5)
        for name, password in PASSWORDS.items():
            annotators.create_account(db, name, password, ROLES[name])
        db.exec(select(QueueItem)).all()
    session(settings.db_url).connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("annotator-world")
    _build(root)
    return root


@pytest.fixture
def world(world_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A fresh copy of the world; the app reads it through WEBRECALL_DATABASE_URL / WEBRECALL_DATA_DIR."""
    shutil.copy(world_template / "webrecall.db", tmp_path / "webrecall.db")
    shutil.copytree(world_template / "data", tmp_path / "data")
    db_url = f"sqlite:///{tmp_path / 'webrecall.db'}"
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", db_url)
    monkeypatch.setenv("WEBRECALL_DATA_DIR", str(tmp_path / "data"))
    yield World(Settings(), db_url, tmp_path / "data")
