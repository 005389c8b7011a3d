"""Progress figures of a round (pages, pages/s, ETA): one computation, the same in the API, /metrics and the CLI.

The task rows are the real rows of a round over CC-MAIN-DEV; their times are set here, so the expected figures
are exact and no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select
from typer.testing import CliRunner

from webrecall.api.main import create_app
from webrecall.cli.main import app as cli
from webrecall.core import db as dbm
from webrecall.core.lifecycle.progress import round_progress
from webrecall.core.lifecycle.spec import RoundSpec, create_round


def _round(settings, corpus_server: str, *, status: str, started_s_ago: float, index_done: int,
           finished_s_ago: float | None = None) -> int:  # type: ignore[no-untyped-def]  # fmt: skip
    """A 2-WARC round whose first `index_done` index tasks finished, each in 10 s, side by side."""
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=2,
                                           seed_patterns=["docs.python.org/"]))  # fmt: skip
    now = dbm.utcnow()
    with dbm.session(settings.db_url) as db:
        row = db.get(dbm.Round, rnd.id)
        row.status, row.started_at = status, now - timedelta(seconds=started_s_ago)
        row.finished_at = now - timedelta(seconds=finished_s_ago) if finished_s_ago is not None else None
        db.add(row)
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rnd.id, dbm.WarcTask.phase == "index")
                        .order_by(dbm.WarcTask.id)).all()  # fmt: skip
        for task in tasks[:index_done]:
            task.status, task.pages, task.html_pages = "done", 1501, 500  # a DEV WARC: 1,501 records, 500 HTML
            task.started_at = now - timedelta(seconds=started_s_ago)
            task.finished_at = task.started_at + timedelta(seconds=10)
            db.add(task)
        db.commit()
    return rnd.number


def _metric(text: str, name: str) -> float:
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_a_finished_rounds_rate_uses_its_own_end_time_everywhere(make_settings, corpus_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    # ran for 200 s and ended an hour ago: 1,000 HTML pages / 200 s, whenever one asks
    n = _round(settings, corpus_server, status="done", started_s_ago=3800, finished_s_ago=3600, index_done=2)
    with dbm.session(settings.db_url) as db:
        rnd = db.exec(select(dbm.Round).where(dbm.Round.number == n)).one()
        rnd.totals = {"pages": 3002, "html_pages": 1000, "recalled": 10}
        db.add(rnd)
        db.commit()
    with TestClient(create_app(settings)) as c:
        api = c.get(f"/rounds/{n}").json()
        metrics = c.get("/metrics").text
    monkeypatch.setenv("WEBRECALL_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", settings.db_url)
    out = CliRunner().invoke(cli, ["round", "status", str(n), "--json"])
    assert out.exit_code == 0, out.output
    status = json.loads(out.stdout)
    assert api["progress"]["pages_per_s"] == 5.0
    assert _metric(metrics, "webrecall_latest_round_pages_per_second") == 5.0
    assert status["pages_per_s"] == 5.0
    assert (api["pages"], api["html_pages"]) == (status["pages"], status["html_pages"]) == (3002, 1000)


def test_pages_are_reported_as_warc_tasks_finish(make_settings, corpus_server) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    n = _round(settings, corpus_server, status="indexing", started_s_ago=30, index_done=1)
    with TestClient(create_app(settings)) as c:
        body = c.get(f"/rounds/{n}").json()
    assert (body["pages"], body["html_pages"]) == (1501, 500)
    assert body["progress"]["index"] == {"warcs_done": 1, "warcs_total": 2, "running": 0, "cancelled": 0, "pages": 500,
                                         "recalled": 0}  # fmt: skip


def test_the_eta_does_not_grow_while_the_round_trains(make_settings, corpus_server) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    soon = _round(settings, corpus_server, status="training", started_s_ago=20, index_done=2)
    with dbm.session(settings.db_url) as db:
        first = round_progress(settings, db.exec(select(dbm.Round).where(dbm.Round.number == soon)).one().id)
    with dbm.session(settings.db_url) as db:  # the same round, waiting on training for an hour more
        rnd = db.exec(select(dbm.Round).where(dbm.Round.number == soon)).one()
        rnd.started_at = rnd.started_at - timedelta(seconds=3600)
        db.add(rnd)
        db.commit()
        round_id = rnd.id
    later = round_progress(settings, round_id)
    # 2 recall tasks left; index tasks took 10 s each, 2 at a time: 2 x 10 s / 2
    assert first.eta_seconds == later.eta_seconds == 10.0
    assert first.eta_partial and later.eta_partial  # a first round: training and finalize have no time yet
    assert later.index.warcs_done == 2 and later.recall.warcs_done == 0


def _times(settings, number: int, phase: str, *, started_s_ago: float, seconds: float, status: str = "done") -> None:  # type: ignore[no-untyped-def]
    """Every `phase` task of round `number` ran side by side, `seconds` long, from `started_s_ago`."""
    now = dbm.utcnow()
    with dbm.session(settings.db_url) as db:
        rid = db.exec(select(dbm.Round.id).where(dbm.Round.number == number)).one()
        for task in db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rid, dbm.WarcTask.phase == phase)):
            task.status, task.started_at = status, now - timedelta(seconds=started_s_ago)
            task.finished_at = task.started_at + timedelta(seconds=seconds)
            db.add(task)
        db.commit()


def _eta_of(settings, number: int):  # type: ignore[no-untyped-def]
    with dbm.session(settings.db_url) as db:
        rid = db.exec(select(dbm.Round.id).where(dbm.Round.number == number)).one()
    p = round_progress(settings, rid)
    return p.eta_seconds, p.eta_partial


def test_the_eta_counts_every_step_still_to_come(make_settings, corpus_server) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    # round 1: index 10 s a file, training 20 s, recall 5 s a file (2 files side by side each), dedup and finalize 4 s
    one = _round(settings, corpus_server, status="done", started_s_ago=1000, index_done=2, finished_s_ago=961)
    _times(settings, one, "recall", started_s_ago=970, seconds=5)
    two = _round(settings, corpus_server, status="indexing", started_s_ago=30, index_done=1)
    # 1 index file left at 10 s, training 20 s, 2 recall files at 5 s side by side, finalize 4 s (was 10.0: 2 files)
    assert _eta_of(settings, two) == (10.0 + 20.0 + 5.0 + 4.0, False)
    _times(settings, two, "index", started_s_ago=4000, seconds=10)  # both indexed, and training for an hour since
    with dbm.session(settings.db_url) as db:
        row = db.exec(select(dbm.Round).where(dbm.Round.number == two)).one()
        row.status = "training"
        db.add(row)
        db.commit()
    assert _eta_of(settings, two) == (5.0 + 4.0, True)  # past round 1's training: what follows it, at least
    _times(settings, two, "recall", started_s_ago=60, seconds=5)
    with dbm.session(settings.db_url) as db:
        row = db.exec(select(dbm.Round).where(dbm.Round.number == two)).one()
        row.status = "finalizing"
        db.add(row)
        db.commit()
    assert _eta_of(settings, two) == (None, True)  # finalizing past round 1's 4 s: unknown, never 0.0


def test_the_eta_is_unknown_not_zero_when_only_unmeasured_steps_remain(make_settings, corpus_server) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    first = _round(settings, corpus_server, status="finalizing", started_s_ago=100, index_done=2)
    _times(settings, first, "recall", started_s_ago=60, seconds=5)
    assert _eta_of(settings, first) == (None, True)  # was 0.0: a first round's finalize has no time yet
