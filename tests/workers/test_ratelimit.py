"""The shared token bucket against a real Redis: concurrent takers never exceed the rate."""

from __future__ import annotations

import threading
import time

import pytest

from webrecall.core.crawl import http, listing, sources
from webrecall.core.crawl.ratelimit import TokenBucket

pytestmark = pytest.mark.services


def test_two_takers_share_one_bucket(redis_url):
    a = TokenBucket(redis_url, rate=20, burst=5, prefix=f"test:{time.time()}")
    b = TokenBucket(redis_url, rate=20, burst=5, prefix=a.prefix)  # another worker, same bucket
    start = time.monotonic()
    threads = [threading.Thread(target=lambda t=t: [t.acquire("http://h.example/x") for _ in range(15)])
               for t in (a, b)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert elapsed >= (30 - 5) / 20 * 0.9  # 5 from the burst, then 20 per second
    assert a.try_acquire("other.example") == 0.0  # one bucket per host


def test_every_remote_read_takes_a_token(redis_url, corpus_server):
    bucket = TokenBucket(redis_url, rate=1000, burst=1000, prefix=f"test:{time.time()}")
    seen: list[str] = []
    http.set_rate_limiter(lambda url: (seen.append(url), bucket(url)) and None)
    try:
        paths = listing.resolve_crawl("CC-MAIN-DEV", corpus_server)
        sources.read_range(paths[0], 0, 100)
    finally:
        http.set_rate_limiter(None)
    assert seen == [f"{corpus_server}crawl-data/CC-MAIN-DEV/warc.paths.gz", paths[0]]
