"""The Celery app: broker and result backend from `Settings`, the delivery guarantees a round relies on.

`task_acks_late` + `task_reject_on_worker_lost`: a task whose worker dies is delivered again; that is safe
because every task is idempotent (outputs replaced, completion row written last). Prefetch 1: a worker holds
no WARC it is not working on, so a lost worker strands at most one.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

from webrecall.core.settings import Settings

QUEUES = ("recall", "train")


def make_app(settings: Settings) -> Celery:
    """An app bound to `settings` (the worker's own, or a test's)."""
    app = Celery("webrecall", broker=settings.broker_url, backend=settings.broker_url,
                 include=["webrecall.workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="recall",
        task_routes={"webrecall.train": {"queue": "train"}, "webrecall.*": {"queue": "recall"}},
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_expires=7 * 24 * 3600,
        task_track_started=True,
        worker_send_task_events=True,  # Flower
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
        result_backend_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
        worker_max_memory_per_child=4_000_000,  # KiB: a leaking extractor does not take the host down
        # a Redis restart mid-round: result writes (and the chord counters behind them) wait for it to come
        # back instead of failing the task, which would break the round's chord (tests/e2e/test_faults.py)
        result_backend_always_retry=True,
        result_backend_max_retries=60,
        task_publish_retry_policy={"max_retries": 30, "interval_start": 0, "interval_step": 1, "interval_max": 5},
    )  # fmt: skip
    app.conf.webrecall_settings = settings
    return app


def settings_of(app: Any) -> Settings:
    settings: Settings = app.conf.webrecall_settings
    return settings


app = make_app(Settings())


@worker_process_init.connect
def _per_process(**_: Any) -> None:
    """Each forked pool process gets its own DB connections and installs the shared rate limit, if any."""
    from webrecall.core import db
    from webrecall.core.crawl import http
    from webrecall.core.crawl.ratelimit import TokenBucket

    db.get_engine.cache_clear()
    settings = settings_of(app)
    if settings.remote_reads_per_s > 0:
        url = settings.ratelimit_url or settings.broker_url
        http.set_rate_limiter(TokenBucket(url, rate=settings.remote_reads_per_s, burst=settings.remote_read_burst))
