"""The local runner stops when its round is cancelled, and leaves no process behind however it ends: a round started
through the API (its runner is a child of the server) whose training would run for hours."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

from tests.api.conftest import AUTH, LiveAPI, serve_api, wait_for

pytestmark = pytest.mark.slow
ENDLESS_TRAINING = {"WEBRECALL_FT_EPOCH": "100000", "WEBRECALL_FT_MAX_EPOCH": "100000",
                    "WEBRECALL_FT_MIN_EPOCH_UPDATES": "1000000000000", "WEBRECALL_FT_THREADS": "1"}  # fmt: skip
"""fastText's loop, which looks at no flag, for hours."""


@pytest.fixture
def api(tmp_path, corpus_server: str) -> Iterator[LiveAPI]:  # type: ignore[no-untyped-def]
    with serve_api(tmp_path, WEBRECALL_ALLOWED_BASE_URLS=corpus_server, WEBRECALL_PROCESSES="2",
                   WEBRECALL_CANCEL_CHECK_SECONDS="1", **ENDLESS_TRAINING) as live:  # fmt: skip
        yield live


def _training(api: LiveAPI, corpus_server: str) -> tuple[psutil.Process, list[psutil.Process]]:
    """Start a round and wait until it trains; returns its runner and every process under it."""
    body = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_server, "limit": 2, "seed_patterns": ["docs.python.org/"]}
    assert api.client.post("/rounds", json=body, headers=AUTH).status_code == 202
    assert wait_for(api.client, 1, {"training", "done", "failed", "cancelled"})["status"] == "training"
    runner = next(p for p in psutil.Process(api.proc.pid).children(recursive=True)
                  if "webrecall.core.lifecycle.run" in " ".join(p.cmdline()))  # fmt: skip
    under = runner.children(recursive=True)
    assert len(under) >= 2, under  # the pool (and training, in a process of its own)
    return runner, under


def test_cancel_stops_training_and_every_pool_process(api: LiveAPI, corpus_server: str) -> None:
    runner, under = _training(api, corpus_server)
    assert api.client.post("/rounds/1/cancel", headers=AUTH).status_code == 200
    _, alive = psutil.wait_procs([runner, *under], timeout=60)  # the round would train for hours
    assert alive == [], [(p.pid, p.status()) for p in alive]
    assert wait_for(api.client, 1, {"cancelled"})["status"] == "cancelled"


def test_a_killed_runner_leaves_no_orphan(api: LiveAPI, corpus_server: str) -> None:
    runner, under = _training(api, corpus_server)
    runner.kill()
    _, alive = psutil.wait_procs(under, timeout=60)
    assert alive == [], [(p.pid, p.status(), p.ppid()) for p in alive]
