"""Domain stats written in bulk: COPY on PostgreSQL and executemany give the same rows as each other and as
SQLite's path, values at the edges included (64-bit character counts, float bits, Unicode hosts, defaults)."""

from __future__ import annotations

import random

import pytest
from sqlmodel import col, select

from webrecall.core import db as dbm
from webrecall.core.bulk import copy_rows, executemany_rows, insert_rows


def _rows(round_id: int, n: int = 3000) -> list[dict]:
    rng = random.Random(7)
    rows = []
    for i in range(n):
        pages = rng.randint(1, 10**6)
        recalled = rng.randint(0, pages)
        row = dict(round_id=round_id, domain=f"h{i}.{rng.choice(['example.org', 'beispiel.de', 'пример.рф'])}",
                   site=rng.choice(["", "example.org", "o'brien.ie", 'quote"d.com', "tab\there.net", "back\\slash.io"]),
                   pages=pages, recalled=recalled, fraction=recalled / pages, chars=rng.randint(0, 2**40),
                   recalled_chars=rng.randint(0, 2**35), score_mean=rng.random(), score_p10=rng.random() / 3,
                   score_p50=0.1 + 0.2, score_p90=1.0, related=recalled / pages > 0.1)  # fmt: skip
        if i % 7 == 0:
            del row["score_p90"], row["site"]  # left to the model's defaults
        rows.append(row)
    return rows


def _read(url: str, round_id: int) -> list[dict]:
    with dbm.session(url) as db:
        found = db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == round_id)
                        .order_by(col(dbm.DomainStat.domain))).all()  # fmt: skip
    return [r.model_dump(exclude={"round_id"}) for r in found]


def _rounds(url: str, n: int) -> list[int]:
    dbm.migrate(url)
    with dbm.session(url) as db:
        rounds = [dbm.Round(number=i + 1) for i in range(n)]
        db.add_all(rounds)
        db.commit()
        return [r.id or 0 for r in rounds]


@pytest.mark.services
def test_copy_and_executemany_write_the_same_rows_on_postgres_and_sqlite(postgres_db, tmp_path):
    copied, batched, chosen = _rounds(postgres_db, 3)
    with dbm.session(postgres_db) as db:
        assert copy_rows(db, dbm.DomainStat, iter(_rows(copied))) == 3000
        assert executemany_rows(db, dbm.DomainStat, _rows(batched), batch=1000) == 3000
        assert insert_rows(db, dbm.DomainStat, _rows(chosen)) == 3000
        db.commit()
    sqlite = f"sqlite:///{tmp_path / 's.db'}"
    (on_sqlite,) = _rounds(sqlite, 1)
    with dbm.session(sqlite) as db:
        assert insert_rows(db, dbm.DomainStat, _rows(on_sqlite)) == 3000
        db.commit()
    want = _read(postgres_db, copied)
    assert len(want) == 3000 and max(r["chars"] for r in want) > 2**31
    assert _read(postgres_db, batched) == want
    assert _read(postgres_db, chosen) == want
    assert _read(sqlite, on_sqlite) == want
    defaults = [r for r in want if r["score_p90"] == 0.0 and r["site"] == ""]  # left to the model's defaults
    assert len(defaults) == len(range(0, 3000, 7))


@pytest.mark.services
def test_a_copy_is_part_of_the_callers_transaction(postgres_db):
    (rid,) = _rounds(postgres_db, 1)
    with dbm.session(postgres_db) as db:
        copy_rows(db, dbm.DomainStat, _rows(rid, 10))
        db.rollback()
    assert _read(postgres_db, rid) == []


@pytest.mark.services
def test_json_columns_times_and_database_numbered_ids_copy_as_they_insert(postgres_db):
    (rid,) = _rounds(postgres_db, 1)
    now = dbm.utcnow()

    def items(tag: str) -> list[dict]:
        return [{"round_id": rid, "domain": f"{tag}{i}.org", "priority": i / 7, "labeled_by": ["ann", "b"][: i % 3],
                 "details": {"why": "uncertain", "n": i, "nested": {"ü": [1, 2]}}, "created_at": now,
                 "updated_at": now} for i in range(50)]  # fmt: skip

    with dbm.session(postgres_db) as db:
        assert copy_rows(db, dbm.QueueItem, items("c")) == 50
        assert executemany_rows(db, dbm.QueueItem, items("e")) == 50
        db.commit()
        found = db.exec(select(dbm.QueueItem).order_by(col(dbm.QueueItem.id))).all()
    by_tag = {t: [r.model_dump(exclude={"id", "domain"}) for r in found if r.domain.startswith(t)] for t in "ce"}
    assert len(by_tag["c"]) == 50 and by_tag["c"] == by_tag["e"]
    assert by_tag["c"][4]["details"] == {"why": "uncertain", "n": 4, "nested": {"ü": [1, 2]}}
    assert by_tag["c"][4]["created_at"] == now and by_tag["c"][4]["status"] == "pending"
    assert len({r.id for r in found}) == 100
