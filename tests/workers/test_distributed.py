"""Rounds on real Celery workers (subprocesses) over Redis and PostgreSQL, compared with the in-process run.

fastText trains with one thread here, so the same seeds give the same model and both runs must recall
exactly the same pages.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis
from sqlmodel import select

from tests.services import ROOT
from webrecall.core import db as dbm
from webrecall.core.lifecycle.export import export
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.status import TERMINAL
from webrecall.core.settings import FastTextParams, Settings
from webrecall.core.storage.layout import pages_path
from webrecall.core.storage.store import Store

pytestmark = [pytest.mark.services, pytest.mark.slow]
SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
_redis_db = itertools.count(1)


def recalled(settings: Settings, round_id: int) -> list[str]:
    """Every recalled URL of the round's shards, duplicates kept (a duplicate would be a bug)."""
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        rnd = db.get(dbm.Round, round_id)
        rows = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == round_id, dbm.WarcTask.phase == "recall"))
        paths = [pages_path(rnd.number, t.warc_url) for t in rows if t.status == "done"]
    return [u for p in paths for u in store.read_table(p, columns=["url"])["url"].to_pylist()]


def exported(settings: Settings, number: int) -> dict[str, tuple[str, dict[str, int]]]:
    """url -> (text, redactions) of the round's export (redacted, as by default)."""
    buf = io.BytesIO()
    export(settings, number, buf)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    return {r["url"]: (r["text"], r["redactions"]) for r in rows}


def domain_counts(settings: Settings, round_id: int) -> dict[str, tuple[int, int]]:
    with dbm.session(settings.db_url) as db:
        rows = db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == round_id)).all()
    return {d.domain: (d.pages, d.recalled) for d in rows}


def finalized(settings: Settings, round_id: int) -> tuple[list[tuple], list[tuple], dict]:
    """What finalize and discovery wrote: every domain stat, the queue in order, the domain comparison (a round is
    done before its discovery step has written them: waited for)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with dbm.session(settings.db_url) as db:
            if "discovery" in (db.get(dbm.Round, round_id).totals or {}):
                break
        time.sleep(0.3)
    with dbm.session(settings.db_url) as db:
        stats = db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == round_id)).all()
        items = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == round_id).order_by(dbm.QueueItem.id))
        queue = [(q.domain, q.kind, q.reason, q.priority, q.details) for q in items]
        rnd = db.get(dbm.Round, round_id)
    rows = sorted(tuple(v for k, v in s.model_dump().items() if k not in ("id", "round_id")) for s in stats)
    return rows, queue, rnd.totals["discovery"]


def wait_round(settings: Settings, round_id: int, timeout: float = 180.0) -> dbm.Round:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with dbm.session(settings.db_url) as db:
            rnd = db.get(dbm.Round, round_id)
        if rnd.status in TERMINAL:
            return rnd
        time.sleep(0.3)
    raise TimeoutError(f"round {round_id} still {rnd.status} after {timeout}s")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, corpus_server):
    """The in-process run (SQLite, local process pool) every distributed run must equal."""
    s = Settings(data_dir=str(tmp_path_factory.mktemp("inproc")), database_url="", ft=FastTextParams(threads=1))
    dbm.migrate(s.db_url)
    rnd = create_round(s, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=3, seed_patterns=SEEDS))
    rnd = run_round(s, rnd.id, processes=2)
    assert rnd.status == "done"
    return rnd, recalled(s, rnd.id), domain_counts(s, rnd.id), exported(s, rnd.number), finalized(s, rnd.id)


@pytest.fixture
def cluster(redis_url, postgres_db, tmp_path, celery_workers):
    """Settings on PostgreSQL + a fresh Redis database, and a factory of workers bound to them."""
    base, _, _ = redis_url.rpartition("/")
    broker = f"{base}/{next(_redis_db)}"
    redis.Redis.from_url(broker).flushdb()
    # finalize in 3 domain partitions on the workers, 8 in the baseline: the split must not change a figure
    env = {"database_url": postgres_db, "data_dir": str(tmp_path / "data"), "broker_url": broker,
           "finalize_partitions": "3", "ft_threads": "1", "remote_reads_per_s": "500",
           "cancel_check_seconds": "0.5"}  # fmt: skip
    settings = Settings(**{k: v for k, v in env.items() if not k.startswith("ft_")}, ft=FastTextParams(threads=1))
    dbm.migrate(postgres_db)
    return settings, env, lambda n: celery_workers(n, **env)


def assert_same_as_baseline(settings: Settings, rnd: dbm.Round, baseline) -> None:
    base, base_urls, base_domains, base_export, base_finalized = baseline
    urls = recalled(settings, rnd.id)
    assert rnd.status == "done", rnd.error
    assert len(urls) == len(set(urls))  # no duplicate
    assert set(urls) == set(base_urls)  # no missing page, nothing extra
    for key in ("pages", "html_pages", "recalled", "domains", "related_domains", "warcs", "errors"):
        assert rnd.totals[key] == base.totals[key], key
    assert domain_counts(settings, rnd.id) == base_domains
    stats, queue, discovery = finalized(settings, rnd.id)
    assert (stats, queue, discovery["new"], discovery["new_domains"]) == (
        base_finalized[0], base_finalized[1], base_finalized[2]["new"], base_finalized[2]["new_domains"])
    assert base_finalized[1] and base.totals["related_domains"] > 0  # a queue and related domains to compare
    # the export redacts the same values wherever the round ran, and the workers' counts sum to the same totals
    assert exported(settings, rnd.number) == base_export
    assert rnd.totals["redactions"] == base.totals["redactions"] and base.totals["redactions"]["total"] > 0


def test_distributed_round_equals_the_in_process_run(baseline, cluster, corpus_server):
    settings, env, start_workers = cluster
    start_workers(2)
    cli_env = {**os.environ, "PYTHONPATH": str(ROOT), **{f"WEBRECALL_{k.upper()}": v for k, v in env.items()}}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "webrecall.cli.main", "round", "start", "--distributed", "--json",
         "--crawl", "CC-MAIN-DEV",
         "--base-url", corpus_server, "--limit", "3", "--seed-pattern", SEEDS[0], "--seed-pattern", SEEDS[1]],
        env=cli_env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    number = json.loads(out.stdout)["id"]
    with dbm.session(settings.db_url) as db:
        round_id = db.exec(select(dbm.Round.id).where(dbm.Round.number == number)).one()
    rnd = wait_round(settings, round_id)
    wall = time.perf_counter() - t0
    assert_same_as_baseline(settings, rnd, baseline)
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == round_id)).all()
    assert Counter(t.status for t in tasks) == {"done": 6}
    assert all(t.attempts == 1 for t in tasks)  # nothing ran twice
    pages = rnd.totals["html_pages"]
    print(f"\n2 workers: {pages} pages in {wall:.1f}s = {pages / wall:.1f} pages/s (with training)")


def test_a_worker_killed_mid_warc_loses_and_duplicates_nothing(baseline, cluster, corpus_server):
    from webrecall.workers.celery_app import make_app
    from webrecall.workers.tasks import enqueue, task_id

    settings, _env, start_workers = cluster
    workers = start_workers(2)
    app = make_app(settings)
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=3,
                                           seed_patterns=SEEDS))  # fmt: skip
    enqueue(app, settings, rnd.id)
    killed = None
    deadline = time.monotonic() + 150
    while killed is None and time.monotonic() < deadline:
        with dbm.session(settings.db_url) as db:
            running = db.exec(select(dbm.WarcTask).where(
                dbm.WarcTask.round_id == rnd.id, dbm.WarcTask.phase == "recall", dbm.WarcTask.status == "running"
            )).all()  # fmt: skip
        for row in running:
            wanted = task_id(rnd.id, "recall", row.id)
            # its own connection, closed here: a reply consumer left open in the app's pool blocks a process
            # forked later (kombu's after-fork cleanup waits for its pending BRPOP), as the WET baseline's pool
            with app.connection_for_read() as conn:
                replies = app.control.inspect(timeout=1.0, connection=conn).active() or {}
            for active in replies.values():
                for info in active:
                    if info["id"] == wanted and killed is None:
                        with dbm.session(settings.db_url) as db:
                            if db.get(dbm.WarcTask, row.id).status == "running":  # still mid-WARC
                                workers.kill(info["worker_pid"])  # kill -9 the process reading the WARC
                                killed = row.id
        time.sleep(0.1)
    assert killed is not None, "no recall task was caught running"
    rnd = wait_round(settings, rnd.id)
    assert_same_as_baseline(settings, rnd, baseline)
    with dbm.session(settings.db_url) as db:
        row = db.get(dbm.WarcTask, killed)
    assert row.status == "done" and row.attempts == 2  # redelivered and rerun, its counts replaced
    app.close()


def _warc_ranges(hits) -> list[tuple[str, str]]:
    return [(h.path, h.range) for h in hits if h.path.endswith(".warc.gz") and h.range not in (None, "bytes=0-0")]


@pytest.fixture(scope="module")
def wet_baseline(tmp_path_factory, wet_httpd):
    """A WET-first round in-process (every page scored on its WET text, candidates fetched by range)."""
    from tests.conftest import WET_FILES

    s = Settings(data_dir=str(tmp_path_factory.mktemp("wet-inproc")), database_url="", ft=FastTextParams(threads=1))
    dbm.migrate(s.db_url)
    start = len(wet_httpd.hits)
    rnd = create_round(s, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=wet_httpd.url, limit=WET_FILES,
                                    seed_patterns=SEEDS))  # fmt: skip
    rnd = run_round(s, rnd.id, processes=2)
    assert rnd.status == "done" and rnd.params["scan"] == "wet"
    ranges = _warc_ranges(wet_httpd.hits[start:])
    return rnd, recalled(s, rnd.id), domain_counts(s, rnd.id), exported(s, rnd.number), finalized(s, rnd.id), ranges


def test_a_wet_first_round_on_celery_equals_the_in_process_run(wet_baseline, cluster, wet_httpd):
    from tests.conftest import WET_FILES
    from webrecall.workers.celery_app import make_app
    from webrecall.workers.tasks import enqueue

    settings, _env, start_workers = cluster
    start_workers(2)
    app = make_app(settings)
    start = len(wet_httpd.hits)
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=wet_httpd.url, limit=WET_FILES,
                                           seed_patterns=SEEDS))  # fmt: skip
    enqueue(app, settings, rnd.id)
    rnd = wait_round(settings, rnd.id, timeout=600)
    app.close()
    assert_same_as_baseline(settings, rnd, wet_baseline[:5])
    assert rnd.params["wet_floor"] == wet_baseline[0].params["wet_floor"]
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rnd.id)).all()
    assert Counter(t.phase for t in tasks) == {"index": WET_FILES, "sample": WET_FILES, "recall": WET_FILES}
    assert all(t.status == "done" and t.attempts == 1 for t in tasks)
    ranges = _warc_ranges(wet_httpd.hits[start:])
    assert len(ranges) == len(set(ranges)) > 0  # each record range asked once
    assert sorted(ranges) == sorted(wet_baseline[5])  # the same records as in-process, by the same ranges


def test_cancel_kills_training_on_the_worker(cluster, corpus_server):
    """fastText's loop looks at no flag: the API's cancel must kill the pool process that trains, within seconds
    (the worker itself goes on, with a fresh pool process)."""
    import psutil
    from fastapi.testclient import TestClient

    from tests.api.conftest import AUTH, TOKEN
    from webrecall.api.main import create_app
    from webrecall.workers.celery_app import make_app
    from webrecall.workers.tasks import enqueue, task_id

    settings, _env, start_workers = cluster
    workers = start_workers(1)
    endless = settings.model_copy(update={"execution": "celery", "api_token": TOKEN, "ft": FastTextParams(
        threads=1, epoch=100_000, max_epoch=100_000, min_epoch_updates=10**12)})  # hours of training, recorded
    rnd = create_round(endless, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=2, seed_patterns=SEEDS))
    app = make_app(settings)
    enqueue(app, settings, rnd.id)
    trainer = None
    deadline = time.monotonic() + 150
    while trainer is None and time.monotonic() < deadline:
        with app.connection_for_read() as conn:  # its own connection, closed here (see the killed-worker test)
            replies = app.control.inspect(timeout=1.0, connection=conn).active() or {}
        for active in replies.values():
            trainer = next((psutil.Process(i["worker_pid"]) for i in active if i["id"] == task_id(rnd.id, "train")),
                           trainer)  # fmt: skip
        time.sleep(0.2)
    assert trainer is not None, "training was not caught running"
    worker = psutil.Process(next(iter(workers.procs.values())).pid)
    assert trainer.ppid() == worker.pid
    with TestClient(create_app(endless)) as c:
        assert c.post(f"/rounds/{rnd.number}/cancel", headers=AUTH).status_code == 200
    _, alive = psutil.wait_procs([trainer], timeout=60)
    assert alive == [], "the pool process still trains"
    assert worker.is_running() and trainer.pid not in {p.pid for p in worker.children()}
    with dbm.session(settings.db_url) as db:
        assert db.get(dbm.Round, rnd.id).status == "cancelled"
    app.close()
