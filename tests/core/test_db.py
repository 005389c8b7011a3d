"""Migrations are the schema: a fresh database upgraded to head matches the SQLModel tables."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from webrecall.core import db as dbm
from webrecall.core import label_store as labels


def test_migrations_create_every_table_and_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    dbm.migrate(url)
    dbm.migrate(url)  # safe to rerun
    engine = dbm.get_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        tables = {row[0] for row in conn.exec_driver_sql("select name from sqlite_master where type='table'")}
    assert diff == []
    assert {"round", "warctask", "model", "domainstat", "label", "queueitem", "alembic_version"} <= tables


def test_labels_are_append_only_and_latest_per_annotator_wins(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    dbm.migrate(url)
    with dbm.session(url) as db:
        labels.import_labels(db, [{"pattern": "docs.python.org/", "label": "code", "annotator": "ann"}])
        labels.import_labels(db, [{"pattern": "docs.python.org/", "label": "non-code", "annotator": "ann"}])
        labels.import_labels(db, [{"pattern": "example.org/blog/", "label": "code", "annotator": "a"},
                                  {"pattern": "example.org/blog/", "label": "non-code", "annotator": "b"},
                                  {"url": "https://example.org/x", "label": "code"}])
        assert len(db.exec(select(dbm.Label)).all()) == 5
        agreed, conflicts = labels.resolved(db)
        assert agreed["docs.python.org/"] == "non-code"
        assert conflicts == {"example.org/blog/": {"code", "non-code"}}
        ps = labels.pattern_set(db)
        assert ps.match("https://example.org/x")[1] == "code"
        assert ps.match("https://example.org/x/y") is None  # a URL label covers that page only
        assert ps.match("https://example.org/blog/1") is None  # conflicting: left out


def test_bad_label_rows_write_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    dbm.migrate(url)
    with dbm.session(url) as db:
        rows = [{"pattern": "docs.python.org/", "label": "code"}, {"pattern": "x.org/", "label": "maybe"}]
        try:
            labels.import_labels(db, rows)
        except ValueError as exc:
            assert "row 2" in str(exc) and "maybe" in str(exc)
        else:
            raise AssertionError("an invalid label was accepted")
        assert db.exec(select(dbm.Label)).all() == []


def test_conflicts_are_reported_and_count_as_covered(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    dbm.migrate(url)
    with dbm.session(url) as db:
        labels.import_labels(db, [{"pattern": "example.org/blog/", "label": "code", "annotator": "a"},
                                  {"pattern": "example.org/blog/", "label": "non-code", "annotator": "b"},
                                  {"pattern": "example.org/blog/", "label": "code", "annotator": "b"},
                                  {"pattern": "example.org/shop/", "label": "non-code", "annotator": "b"},
                                  {"pattern": "example.org/shop/", "label": "code", "annotator": "a"}])  # fmt: skip
        conflict = {"pattern": "example.org/shop/", "labels": {"a": "code", "b": "non-code"}}
        assert labels.conflict_report(db) == [conflict]
        assert labels.pattern_set(db).match("https://example.org/blog/1")[1] == "code"  # b changed their mind
        assert labels.pattern_set(db).match("https://example.org/shop/1") is None  # conflict: not for training
        assert labels.coverage_set(db).matches("https://example.org/shop/1")  # but nobody is asked again


def test_the_skips_migration_turns_team_wide_skips_into_the_annotators_own(tmp_path):
    """Before per-annotator skips an item skipped by one annotator left the queue ('skipped'); the upgrade keeps who
    skipped it, and why, and gives the item back to the others."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = dbm._alembic_config(url)
    command.upgrade(config, "0002")
    with dbm.get_engine(url).begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO round (id, number, status, crawl_id, base_url, threshold, params, totals, error, created_at) "
            "VALUES (1, 1, 'done', '', '', 0.5, '{}', '{}', '', '2026-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO queueitem (round_id, domain, priority, reason, kind, details, labels_needed, labeled_by, "
            "status, claimed_by, created_at, updated_at) VALUES (1, 'a.org', 1, '', 'uncertain', "
            "'{\"pages\": 3, \"skipped_by\": \"alice\", \"skip_reason\": \"site gone\", "
            "\"skipped_at\": \"2026-11-30T10:00:00+00:00\"}', 1, '[]', 'skipped', '', '2026-01-01', '2026-01-01')")
    dbm.migrate(url)
    with dbm.session(url) as db:
        item = db.exec(select(dbm.QueueItem)).one()
        skip = db.exec(select(dbm.QueueSkip)).one()
    assert (item.status, item.details) == ("pending", {"pages": 3})
    assert (skip.queue_item_id, skip.annotator, skip.reason) == (item.id, "alice", "site gone")
    assert skip.created_at.isoformat().startswith("2026-11-30T10:00:00")
