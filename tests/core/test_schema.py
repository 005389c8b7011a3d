"""The schema is migrated once (`webrecall init`); every other entry point only checks it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command

from webrecall.core import db as dbm
from webrecall.core.errors import FatalError


def test_new_embedded_database_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    dbm.ensure_schema(url)
    current, head = dbm.schema_revision(url)
    assert current == head and head


def test_an_old_schema_is_never_upgraded_implicitly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(dbm._alembic_config(url), "0001")  # a database left by older code
    _, head = dbm.schema_revision(url)
    with pytest.raises(FatalError, match=r"revision 0001, this code needs .*webrecall init"):
        dbm.ensure_schema(url)
    assert dbm.schema_revision(url) == ("0001", head)  # untouched
    dbm.migrate(url)  # what `webrecall init` runs
    dbm.ensure_schema(url)


def test_an_empty_server_database_is_refused_with_what_to_run(postgres_db: str) -> None:
    with pytest.raises(FatalError, match=r"has no webrecall schema: run `webrecall init`") as exc:
        dbm.ensure_schema(postgres_db)
    assert "password" not in str(exc.value) and "://" not in str(exc.value)
