"""Start a created round in the background: a local runner process (embedded default) or a Celery task.

The runner is `python -m webrecall.cli.main round run N` in its own process, so a round's CPU work never competes
with the API's event loop, and the same command resumes an interrupted round by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from webrecall.core.db import Round
from webrecall.core.settings import Settings

RUN_ROUND_TASK = "webrecall.run_round"
"""The Celery task (defined in workers/) that builds and enqueues a round's canvas; args: [Round.id]."""


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce `settings` in a child process (which builds its own Settings)."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name == "ft":
            env.update({f"WEBRECALL_FT_{k.upper()}": str(v) for k, v in value.model_dump().items()})
        elif isinstance(value, list):
            env[f"WEBRECALL_{name.upper()}"] = ",".join(map(str, value))
        elif value is not None:
            env[f"WEBRECALL_{name.upper()}"] = str(value)
    env["WEBRECALL_DATABASE_URL"] = settings.db_url
    if "://" not in settings.data_dir:
        env["WEBRECALL_DATA_DIR"] = str(Path(settings.data_dir).expanduser().resolve())
    return env


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
    argv = [sys.executable, "-m", "webrecall.cli.main", "round", "run", str(rnd.number)]
    try:
        proc = subprocess.Popen(argv, env={**os.environ, **settings_env(settings)}, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    except OSError as exc:
        raise RuntimeError(f"could not start the round runner: {exc}") from exc
    finally:
        if not isinstance(log, int):
            log.close()
    threading.Thread(target=proc.wait, name=f"round-{rnd.number}-reaper", daemon=True).start()
