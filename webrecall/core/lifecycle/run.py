"""`python -m webrecall.core.lifecycle.run ROUND_ID`: run one round to its end in this process.

The one entry point for a round that runs in its own process (the API starts it, so a round's CPU work never
competes with the API's event loop); settings come from the environment and the settings file, as every
process of the service reads them. `webrecall round run N` calls `run` in-process.
"""

from __future__ import annotations

import sys

from webrecall.core.db import Round, session
from webrecall.core.errors import FatalError, WebrecallError
from webrecall.core.lifecycle.local import OnTask, run_round
from webrecall.core.lifecycle.status import fail_round, retry_round
from webrecall.core.settings import Settings

CANCEL_IS_FINAL = ("round {number} was cancelled, and a cancel is final: start a new round (`webrecall round start`), "
                   "which reuses the page cache of every file this one read")


def run(settings: Settings, round_id: int, *, processes: int | None = None, progress: OnTask | None = None) -> Round:
    """Run, resume or retry a round to the end: a failed round is retried (its failed WARC tasks run again,
    every finished one and its model are kept). ValueError for a round that is done or cancelled (a cancel is
    final); a round that cannot go on is failed with the reason, which is raised on."""
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
    if rnd is None:
        raise FatalError(f"round {round_id} does not exist")
    if rnd.status == "cancelled":
        raise ValueError(CANCEL_IS_FINAL.format(number=rnd.number))
    if rnd.status == "done":
        raise ValueError(f"round {rnd.number} is already done")
    if rnd.status == "failed":
        retry_round(settings, round_id)
    try:
        return run_round(settings, round_id, processes=processes, progress=progress)
    except (ValueError, WebrecallError) as exc:
        fail_round(settings, round_id, exc)
        raise


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m webrecall.core.lifecycle.run ROUND_ID", file=sys.stderr)
        return 2
    try:
        rnd = run(Settings(), int(argv[0]))
    except (ValueError, WebrecallError) as exc:
        print(f"round {argv[0]}: {exc}", file=sys.stderr)
        return 1
    print(f"round {rnd.number}: {rnd.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
