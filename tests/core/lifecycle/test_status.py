"""The status machine, the spec left as given, a WARC task stopped by its `should_stop`, typed totals of old rows,
and the runner entry point's contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlmodel import select

from tests.conftest import CACHE_ID, ROOT
from webrecall.core import db as dbm
from webrecall.core import totals
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.status import TRANSITIONS, cancel_round, retry_round, set_status
from webrecall.core.lifecycle.warc_task import process_warc_task
from webrecall.core.pipeline.passes import cache_path
from webrecall.core.queries import done_warcs, find_round, pending_tasks, previous_done, round_by_number
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store

SEEDS = ["docs.python.org/"]


def _round(settings: Settings, status: str = "pending") -> int:
    with dbm.session(settings.db_url) as db:
        rnd = dbm.Round(number=(find_round(db).number + 1) if find_round(db) else 1, status=status)  # type: ignore[union-attr]
        db.add(rnd)
        db.commit()
        return int(rnd.id or 0)


def test_transitions_follow_one_table(settings: Settings) -> None:
    rid = _round(settings)
    assert set_status(settings, rid, "indexing").status == "indexing"
    assert set_status(settings, rid, "recalling").status == "recalling"
    assert set_status(settings, rid, "indexing").status == "indexing"  # a resumed round indexes again
    assert set_status(settings, rid, "done").status == "done"
    assert set_status(settings, rid, "recalling").status == "done"  # a redelivered task never reopens a round
    failed = _round(settings)
    rnd = set_status(settings, failed, "failed", error="no seeds")
    assert rnd.finished_at is not None and rnd.error == "no seeds"
    assert set_status(settings, failed, "indexing").status == "failed"  # only a retry leaves it
    assert retry_round(settings, failed).status == "pending"
    with pytest.raises(ValueError, match="not failed"):
        retry_round(settings, failed)
    cancelled = _round(settings)
    first = cancel_round(settings, cancelled)
    assert all(set_status(settings, cancelled, s).status == "cancelled" for s in TRANSITIONS)  # type: ignore[arg-type]
    assert round_by_number(settings, first.number).finished_at == first.finished_at  # the cancel's own end time
    assert {s for s, nxt in TRANSITIONS.items() if nxt <= {s}} == {"done", "cancelled"}


def test_a_later_round_keeps_the_seeds_and_the_spec_is_left_as_given(settings: Settings, corpus_server: str) -> None:
    first = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1,
                                             seed_patterns=SEEDS))  # fmt: skip
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1)
    second = create_round(settings, spec)
    assert spec == RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1)  # not mutated
    assert second.params["seed_patterns"] == first.params["seed_patterns"] == SEEDS
    assert second.number == first.number + 1 and round_by_number(settings).id == second.id
    with dbm.session(settings.db_url) as db:
        assert previous_done(db, second.number) is None  # round 1 never finished
        assert done_warcs(db, first.id) == []
    assert len(pending_tasks(settings, first.id or 0, "index")) == 1


def test_a_warc_task_stops_when_should_stop_says_so(settings: Settings, corpus_server: str) -> None:
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1,
                                           seed_patterns=SEEDS))  # fmt: skip
    (task_id,) = pending_tasks(settings, rnd.id or 0, "index")
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return True

    result = process_warc_task(settings, task_id, should_stop=should_stop)
    with dbm.session(settings.db_url) as db:
        row = db.get(dbm.WarcTask, task_id)
        assert row is not None and row.status == "cancelled" and "cancelled" in row.error
        location = row.warc_url
    assert result.status == "cancelled" and len(asked) == 1  # asked once, after the first batch
    assert not Store(settings.data_dir).exists(cache_path(location, CACHE_ID))  # the partial page cache is discarded
    assert process_warc_task(settings, task_id).status == "done"  # no `should_stop`: runs to its end
    with dbm.session(settings.db_url) as db:
        assert done_warcs(db, rnd.id, "index") == [location]
        assert db.exec(select(dbm.WarcTask).where(dbm.WarcTask.id == task_id)).one().html_pages == 500


def test_old_totals_rows_read_with_defaults_and_keep_unknown_keys() -> None:
    old = dbm.Round(number=1, totals={"recalled": 7, "growth": {"new_tokens": 40, "growth": 0.1, "stop": 0},
                                      "an_old_figure": [1, 2], "model": {"seeds": {"positives": 3}}})  # fmt: skip
    t = totals.of(old)
    assert (t.recalled, t.domains, t.errors, t.dedup) == (7, 0, None, None)
    assert t.growth is not None and (t.growth.new_chars, t.growth.stop) == (40, False)
    assert t.model is not None and t.model.seeds == {"positives": 3} and t.model.seed_heldout is None
    assert t.as_json()["an_old_figure"] == [1, 2]
    broken = totals.of(dbm.Round(number=2, totals={"recalled": "many", "domains": 3}))
    assert (broken.recalled, broken.domains) == (0, 3)  # a figure of the wrong type reads as missing
    merged = totals.merge(old, dedup={"round": {"pages": 5, "kept": 4}})
    assert merged["dedup"] == {"round": {"pages": 5, "kept": 4}} and merged["recalled"] == 7
    with pytest.raises(ValueError):
        totals.merge(old, dedup={"round": {"pages": "five"}})  # validated where written


def test_the_runner_entry_point_takes_a_round_id_only(settings: Settings) -> None:
    env = {"WEBRECALL_DATA_DIR": settings.data_dir, "WEBRECALL_DATABASE_URL": "", "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "webrecall.core.lifecycle.run"]
    usage = subprocess.run([*argv, "1", "--processes", "2"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    rid = _round(settings, status="done")
    done = subprocess.run([*argv, str(rid)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "already done" in done.stderr


@pytest.mark.slow
def test_a_cancelled_round_does_not_report_like_a_finished_one(settings: Settings, corpus_server: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from webrecall.api.main import create_app
    from webrecall.cli.main import app
    from webrecall.core.labelling import dashboard
    from webrecall.core.lifecycle import steps
    from webrecall.core.lifecycle.context import RoundContext
    from webrecall.core.lifecycle.progress import round_progress

    monkeypatch.setenv("WEBRECALL_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", "")
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=2,
                                           seed_patterns=["docs.python.org/"]))  # fmt: skip
    steps.start(RoundContext.load(settings, rnd.id or 0))
    for task_id in pending_tasks(settings, rnd.id or 0, "index"):  # indexed, then cancelled before training
        process_warc_task(settings, task_id)
    cancel_round(settings, rnd.id or 0)
    p = round_progress(settings, rnd.id or 0)
    assert (p.index.warcs_done, p.recall.warcs_done, p.recall.cancelled, p.recall.warcs_total) == (2, 0, 2, 2)
    status = CliRunner().invoke(app, ["round", "status", str(rnd.number), "--json"])
    assert json.loads(status.stdout)["progress"]["recall"] == "0/2 WARC files, 2 cancelled"
    with TestClient(create_app(settings)) as c:
        metrics = c.get("/metrics").text
    assert 'webrecall_rounds{status="cancelled"} 1.0' in metrics and "pages_per_second{" not in metrics
    with dbm.session(settings.db_url) as db:
        assert dashboard.progress(db)["growth"] == []  # not a point at 0 recalled
    again = CliRunner().invoke(app, ["round", "run", str(rnd.number)])
    assert again.exit_code == 2 and "a cancel is final: start a new round" in " ".join(again.output.split())
