"""A token bucket in Redis shared by every worker, so N workers do not hammer one source.

One bucket per source host: `rate` tokens per second, at most `burst` saved up. The refill and the take happen
in one Lua script, so concurrent workers never both spend the same token. `redis` is imported lazily: the
embedded default never needs it.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

# KEYS[1] bucket; ARGV: rate, burst, now (s), tokens wanted -> seconds to wait (0: taken)
_TAKE = """
local rate, burst, now, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= want then tokens = tokens - want else wait = (want - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class TokenBucket:
    """`acquire(url)` blocks until the bucket of the URL's host has a token."""

    def __init__(self, redis_url: str, *, rate: float, burst: int = 20, prefix: str = "webrecall:ratelimit") -> None:
        import redis

        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate, self.burst, self.prefix = rate, burst, prefix
        self._redis: Any = redis.Redis.from_url(redis_url)
        self._take = self._redis.register_script(_TAKE)

    def try_acquire(self, key: str, tokens: int = 1) -> float:
        """Take `tokens` now if there are enough: 0.0; else the seconds until there will be (nothing taken)."""
        now = self._redis.time()  # the server's clock: workers on other hosts agree on it
        wait = float(self._take(keys=[f"{self.prefix}:{key}"], args=[self.rate, self.burst, now[0] + now[1] / 1e6,
                                                                      tokens]))
        return wait

    def acquire(self, url: str, *, max_wait: float = 300.0) -> float:
        """Block until a token for `url`'s host is taken; returns the seconds waited."""
        key = urlsplit(url).netloc or url
        waited = 0.0
        while (wait := self.try_acquire(key)) > 0:
            if waited >= max_wait:
                break  # a stuck bucket must not hang a worker forever: go ahead (the server may 429 us)
            time.sleep(min(wait, max_wait - waited))
            waited += wait
        return waited

    def __call__(self, url: str) -> None:
        self.acquire(url)
