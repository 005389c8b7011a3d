"""`GET /queue`: every kind the queue holds can be listed and filtered on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from webrecall.api.main import create_app
from webrecall.core import db as dbm
from webrecall.core.labelling import queue


def test_every_kind_the_queue_counts_is_a_filter(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    with dbm.session(settings.db_url) as db:
        rnd = dbm.Round(number=1)
        db.add(rnd)
        db.commit()
        queue.enqueue(db, [dbm.QueueItem(round_id=rnd.id or 0, domain=f"{kind}.example.org", kind=kind,
                                         priority=float(n)) for n, kind in enumerate(dbm.QUEUE_KINDS)])  # fmt: skip
    with TestClient(create_app(settings)) as c:
        everything = c.get("/queue").json()
        assert set(everything["by_kind"]) == set(dbm.QUEUE_KINDS) == {"uncertain", "audit", "gold", "page"}
        for kind in everything["by_kind"]:
            resp = c.get("/queue", params={"kind": kind})
            assert resp.status_code == 200, resp.text
            assert [i["domain"] for i in resp.json()["data"]] == [f"{kind}.example.org"]
        bogus = c.get("/queue", params={"kind": "bogus"})
        assert bogus.status_code == 422 and "'page'" in bogus.text
