"""A fresh data dir with a migrated SQLite database for each test (test_rounds keeps one for its module)."""

from __future__ import annotations

import pytest

from webrecall.core import db as dbm
from webrecall.core.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    s = Settings(data_dir=str(tmp_path / "data"), database_url="")
    dbm.migrate(s.db_url)
    return s
