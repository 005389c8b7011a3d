"""The same Alembic migrations on PostgreSQL, and concurrent WARC-task completions without lost updates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from webrecall.core import db as dbm
from webrecall.core.lifecycle.progress import round_progress
from webrecall.core.lifecycle.status import set_status

pytestmark = pytest.mark.services


def test_migrations_match_the_models_on_postgres(postgres_db):
    dbm.migrate(postgres_db)
    dbm.migrate(postgres_db)  # safe to rerun
    with dbm.get_engine(postgres_db).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_eight_tasks_finishing_at_once_lose_nothing(postgres_db, tmp_path):
    from webrecall.core.settings import Settings

    dbm.migrate(postgres_db)
    settings = Settings(database_url=postgres_db, data_dir=str(tmp_path))
    with dbm.session(postgres_db) as db:
        rnd = dbm.Round(number=1)
        db.add(rnd)
        db.flush()
        for i in range(8):
            db.add(dbm.WarcTask(round_id=rnd.id, phase="index", warc_url=f"w{i}", status="running"))
        db.commit()
        ids = [t.id for t in db.exec(select(dbm.WarcTask))]
    set_status(settings, rnd.id, "indexing", started_at=dbm.utcnow())

    def finish(task_id: int) -> None:
        with dbm.session(postgres_db) as db:
            row = db.get(dbm.WarcTask, task_id)
            row.status, row.html_pages, row.pages = "done", 100 + task_id, 300
            db.add(row)
            db.commit()
        set_status(settings, rnd.id, "indexing")  # every task also touches the round row

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(finish, ids))
    progress = round_progress(settings, rnd.id)
    assert progress.index.warcs_done == 8
    assert progress.index.pages == sum(100 + i for i in ids)
    set_status(settings, rnd.id, "cancelled")
    assert set_status(settings, rnd.id, "recalling").status == "cancelled"  # a cancel is never overwritten
