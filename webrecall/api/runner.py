"""Start a created round in the background: a local runner process (embedded default) or a Celery task.

The local runner is the core's entry point `python -m webrecall.core.lifecycle.run ROUND_ID` in its own
process, so a round's CPU work never competes with the API's event loop. It reads its settings as the API
does, from the environment and the settings file (the round's own parameters are stored with the round).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from webrecall.core.db import Round
from webrecall.core.settings import Settings

RUN_ROUND_TASK = "webrecall.run_round"
"""The Celery task (defined in workers/) that builds and enqueues a round's canvas; args: [Round.id]."""


def stop(settings: Settings, rnd: Round) -> None:
    """After a cancel: on the workers, revoke the round's tasks and kill its training (`plan.revoke`); the local
    runner sees the cancel itself and stops its processes."""
    if settings.execution != "celery":
        return
    from celery import Celery

    from webrecall.core.lifecycle.context import RoundContext
    from webrecall.core.lifecycle.plan import revoke

    celery = Celery("webrecall-api", broker=settings.broker_url)
    try:
        revoke(RoundContext.of(settings, rnd), celery.control.revoke)
    finally:
        celery.close()


def launch(settings: Settings, rnd: Round) -> None:
    """Run the round in the background; raises RuntimeError if it could not be handed over."""
    if settings.execution == "celery":
        from celery import Celery

        celery = Celery("webrecall-api", broker=settings.broker_url)
        try:
            celery.send_task(RUN_ROUND_TASK, args=[rnd.id], queue="recall", retry=True,
                             retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5})  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any broker failure means the round was not started
            raise RuntimeError(f"the broker at {settings.broker_url} did not take the round: {exc}") from exc
        return
    log: IO[bytes] | int = subprocess.DEVNULL
    if "://" not in settings.data_dir:
        logs = Path(settings.data_dir).expanduser() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"round-{rnd.number}.log", "ab")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "webrecall.core.lifecycle.run", str(rnd.id)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise RuntimeError(f"could not start the round runner: {exc}") from exc
    finally:
        if not isinstance(log, int):
            log.close()
    threading.Thread(target=proc.wait, name=f"round-{rnd.number}-reaper", daemon=True).start()
