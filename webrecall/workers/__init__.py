"""Celery adapter over the core: tasks take ids, call one core function and return a small summary.

`enqueue_round` and `cancel_round` are its public functions for the other adapters (the CLI calls them).
"""

from __future__ import annotations

from webrecall.core.settings import Settings


def enqueue_round(settings: Settings, round_id: int) -> str:
    """Hand a created round to the workers through `settings.broker_url`; returns the canvas' last task id."""
    from webrecall.workers.celery_app import make_app
    from webrecall.workers.tasks import enqueue

    return enqueue(make_app(settings), settings, round_id)


def cancel_round(settings: Settings, round_id: int) -> int:
    """Cancel a round and revoke its unfinished tasks on the workers; returns how many task ids were revoked."""
    from webrecall.core.lifecycle import status
    from webrecall.workers.celery_app import make_app
    from webrecall.workers.tasks import revoke_round

    status.cancel_round(settings, round_id)
    return revoke_round(make_app(settings), settings, round_id)
