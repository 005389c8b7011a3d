"""Faults on the running stack, each checked against the in-process run of the same round (`e2e_baseline`):
nothing lost, nothing duplicated, the same counts. The crawl (`tests/e2e/crawl.py`) carries a truncated WARC
and a WARC of hostile pages in every round here. `kill -9` of a worker mid-WARC is
tests/workers/test_distributed.py::test_a_worker_killed_mid_warc_loses_and_duplicates_nothing.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.conftest import serve
from tests.e2e import crawl
from tests.e2e.conftest import SEEDS, Baseline, Stack, assert_same_as_baseline

pytestmark = pytest.mark.e2e


def _start(dep, base_url: str) -> int:
    return dep.start_round(crawl_id=crawl.CRAWL, base_url=base_url, seed_patterns=SEEDS)


def test_flaky_mirror_and_hostile_pages(stack: Stack, e2e_baseline: Baseline):
    """Every 2nd request fails, in turn: 503 + Retry-After: 1, or the connection dropped mid-body. (The recall pass
    keeps the cached text and reads nothing, so a round makes few requests: the faults must come often enough that
    each kind hits more than once.)"""
    flaky = serve(stack.site, faults=(None, "503", None, "drop"), cycle=True, retry_after="1",
                  drop_after=256 * 1024)  # fmt: skip
    try:
        with stack.deploy(mirrors=(flaky.url,)) as dep:
            number = _start(dep, flaky.url)
            dep.wait(number)
            body = assert_same_as_baseline(dep, number, e2e_baseline)
            faults = Counter(h.fault for h in flaky.hits if h.fault)
            assert faults["503"] >= 2 and faults["drop"] >= 2, faults
            resumed = [h for h in flaky.hits if h.range and h.path.endswith(".warc.gz")]
            assert resumed  # a dropped body resumes with a Range request
            errors = body["errors"]
            base_errors = e2e_baseline.round.totals["errors"]
            for reason in ("too_large", "too_deep", "not_html", "truncated"):
                assert errors.get(reason, 0) >= 1 and errors.get(reason) == base_errors.get(reason), (reason, errors)
            assert errors.get("too_large") == 2  # the 50 MB page and the gzip bomb
            recalled = set(dep.export_urls(number))
            assert set(stack.hostile["good"]) <= recalled  # type: ignore[arg-type]
            assert not recalled & set(crawl.HOSTILE)
            assert all(t.status == "done" for t in dep.tasks(number))
            print(f"\nflaky mirror: {sum(faults.values())} faults in {len(flaky.hits)} requests {dict(faults)}, "
                  f"{len(resumed)} range resumes; errors {errors}")
    finally:
        flaky.httpd.shutdown()
        flaky.httpd.server_close()


@pytest.mark.parametrize("service", ["redis", "postgres"])
def test_service_restart_mid_round(stack: Stack, e2e_baseline: Baseline, service: str):
    with stack.deploy() as dep:
        number = _start(dep, stack.mirror.url)
        dep.wait_running(number, "index")
        hit = {t.id for t in dep.tasks(number) if t.status == "running"}
        t0 = time.perf_counter()
        getattr(stack, service).restart(down=3.0)
        outage = time.perf_counter() - t0
        dep.wait(number)
        assert_same_as_baseline(dep, number, e2e_baseline)
        tasks = dep.tasks(number)
        attempts = Counter(t.attempts for t in tasks)
        print(f"\n{service} down {outage:.1f}s; task attempts {dict(attempts)}")
        assert hit, "no task was running when the service went down"
        if service == "postgres":  # the running task lost its database: retried (the policy's backoff), then done
            assert max(attempts) >= 2, attempts
        else:  # the broker went away under a running task: the workers reconnected, and the task that was running
            # ended done (its result and the chord counter written on the retried connection)
            logs = "".join(path.read_text(errors="replace") for path in dep.workers.logs.values())
            assert "Connection to broker lost" in logs
            assert all(t.status == "done" for t in tasks if t.id in hit)
