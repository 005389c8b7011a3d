"""`python -m webrecall.workers start|cancel ROUND_ID`: the enqueue side by hand (the CLI calls the same
functions, `webrecall.workers.enqueue_round` / `cancel_round`, in-process)."""

from __future__ import annotations

import json
import sys

from webrecall.workers import cancel_round, enqueue_round
from webrecall.workers.celery_app import app, settings_of


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "cancel") or not argv[1].isdigit():
        print("usage: python -m webrecall.workers start|cancel ROUND_ID", file=sys.stderr)
        return 2
    settings, round_id = settings_of(app), int(argv[1])
    if argv[0] == "start":
        print(json.dumps({"round_id": round_id, "celery_id": enqueue_round(settings, round_id)}))
    else:
        print(json.dumps({"round_id": round_id, "revoked": cancel_round(settings, round_id)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
