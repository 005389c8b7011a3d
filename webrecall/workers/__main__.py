"""`python -m workers start|cancel ROUND_ID`: the enqueue side, run by `webrecall round start --distributed`
(recall/ never imports celery, so the CLI runs this as a subprocess)."""

from __future__ import annotations

import json
import sys

from webrecall.core.lifecycle import rounds
from webrecall.workers.celery_app import app, settings_of
from webrecall.workers.tasks import revoke_round, start_round


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "cancel") or not argv[1].isdigit():
        print("usage: python -m workers start|cancel ROUND_ID", file=sys.stderr)
        return 2
    settings, round_id = settings_of(app), int(argv[1])
    if argv[0] == "start":
        print(json.dumps({"round_id": round_id, "celery_id": start_round(app, settings, round_id)}))
    else:
        rounds.cancel_round(settings, round_id)
        print(json.dumps({"round_id": round_id, "revoked": revoke_round(app, settings, round_id)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
