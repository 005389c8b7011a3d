"""The Celery canvas is the round's plan: each step's tasks under their own name and id, in the plan's order (no
broker needed to build it)."""

from __future__ import annotations

from webrecall.core import db as dbm
from webrecall.core.params import RoundParams
from webrecall.core.settings import DedupConfig, Settings
from webrecall.workers.celery_app import make_app
from webrecall.workers.tasks import round_canvas, task_id


def test_the_canvas_is_the_plan_with_every_task_named_and_identified(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=str(tmp_path / "data"), database_url="")
    dbm.migrate(settings.db_url)
    with dbm.session(settings.db_url) as db:
        rnd = dbm.Round(number=1, params=RoundParams(dedup=DedupConfig(partitions=3), finalize_partitions=2).as_json())
        db.add(rnd)
        db.flush()
        rid = rnd.id or 0
        rows = {phase: [dbm.WarcTask(round_id=rid, phase=phase, warc_url=f"w{i}.warc.gz") for i in range(2)]
                for phase in ("index", "recall")}  # fmt: skip
        db.add_all(rows["index"] + rows["recall"])
        db.commit()
        ids = {phase: [t.id for t in rows[phase]] for phase in rows}
    canvas = round_canvas(make_app(settings), settings, rid)

    def steps(sig):  # type: ignore[no-untyped-def]
        """The canvas as the list of its steps: a group is a list of tasks, a chord its header then its body."""
        if sig.task == "celery.chord":
            return [[task(s) for s in sig.tasks], *steps(sig.body)]
        if sig.task == "celery.chain":
            return [step for part in sig.tasks for step in steps(part)]
        if sig.task == "celery.group":
            return [[task(s) for s in sig.tasks]]
        return [task(sig)]

    def task(sig):  # type: ignore[no-untyped-def]
        return (sig.task, tuple(sig.args), sig.options.get("task_id"), sig.immutable)

    assert steps(canvas) == [
        [("webrecall.warc", (i,), task_id(rid, "index", i), True) for i in ids["index"]],
        ("webrecall.expand", (rid,), task_id(rid, "expand"), True),
        ("webrecall.train", (rid,), task_id(rid, "train"), True),
        [("webrecall.warc", (i,), task_id(rid, "recall", i), True) for i in ids["recall"]],
        [("webrecall.dedup_partition", (rid, p), task_id(rid, "dedup", p), True) for p in range(3)],
        ("webrecall.cut", (rid,), task_id(rid, "cut"), True),
        [("webrecall.domain_partition", (rid, p), task_id(rid, "domains", p), True) for p in range(2)],
        ("webrecall.finalize", (rid,), task_id(rid, "finalize"), True),
    ]
