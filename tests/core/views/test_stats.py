"""The domain list: every sort key, both directions, filters, paged through to the end: each page is the next slice
of one total order (ties by domain; descending is ascending reversed), on SQLite and on PostgreSQL."""

from __future__ import annotations

import functools
import random

import pytest
from sqlmodel import select

from webrecall.core import db as dbm
from webrecall.core.views import stats
from webrecall.core.views.stats import domain_page

RULE = 0.1
KEYS = ["fraction", "recalled", "pages", "chars", "recalled_chars", "domain"]


def _fill(url: str) -> int:
    dbm.migrate(url)
    rng = random.Random(3)
    with dbm.session(url) as db:
        rnd, other = dbm.Round(number=1), dbm.Round(number=2)
        db.add_all([rnd, other])
        db.flush()
        for round_id in (rnd.id, other.id):
            for i in range(200):
                pages = rng.choice([1, 2, 5, 10, 20])
                recalled = rng.randint(0, pages) if i % 3 else 0  # many ties at 0, and some exactly on the rule
                host = f"{rng.choice('abc')}{i:03d}.{rng.choice('xy')}.org"
                db.add(dbm.DomainStat(round_id=round_id or 0, domain=host,
                                      site=rng.choice(["x.org", "y.org"]), pages=pages, recalled=recalled,
                                      fraction=recalled / pages, chars=rng.randint(0, 3), recalled_chars=recalled,
                                      related=recalled / pages > RULE))  # fmt: skip
        related = sum(r.related for r in db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == rnd.id)))
        rnd.totals = {"domains": 200, "related_domains": related}  # as finalize writes them with the rows
        db.add(rnd)
        db.commit()
        return rnd.id or 0


def _rule_order(a: dbm.DomainStat, b: dbm.DomainStat) -> int:
    da, db_ = abs(a.fraction - RULE), abs(b.fraction - RULE)
    if da != db_:
        return -1 if da < db_ else 1
    below_a, below_b = a.fraction < RULE, b.fraction < RULE
    if below_a != below_b:
        return 1 if below_a else -1  # the side above the rule first
    if a.domain == b.domain:
        return 0
    return (-1 if a.domain < b.domain else 1) * (-1 if below_a else 1)  # A-Z above the rule, Z-A below


def _expected(rows: list[dbm.DomainStat], sort: str, descending: bool) -> list[str]:
    if sort == "rule_distance":
        ordered = sorted(rows, key=functools.cmp_to_key(_rule_order))
    else:
        ordered = sorted(rows, key=lambda r: (getattr(r, sort), r.domain))
    return [r.domain for r in (ordered[::-1] if descending else ordered)]


def _passes(row: dbm.DomainStat, key: str, value: object) -> bool:
    if key == "prefix":
        return row.domain.startswith(str(value))
    if key == "min_pages":
        return row.pages >= int(str(value))
    return bool(getattr(row, key) == value)


def _check_every_order(url: str) -> None:
    round_id = _fill(url)
    filters: list[dict] = [{}, {"related": True}, {"related": False}, {"site": "x.org"}, {"prefix": "b"},
                           {"min_pages": 5}]  # fmt: skip
    with dbm.session(url) as db:
        page = domain_page(db, round_id, limit=10_000)
        every = page.rows
        assert page.total == len(every) == 200 and page.exact
        for flt in filters:
            keep = [r for r in every if all(_passes(r, k, v) for k, v in flt.items())]
            for sort in [*KEYS, "rule_distance"]:
                for descending in (False, True):
                    got: list[str] = []
                    for offset in range(0, len(keep) + 9, 9):
                        page = domain_page(db, round_id, sort=sort, descending=descending, offset=offset, limit=9,
                                           related_fraction=RULE, **flt)  # type: ignore[arg-type]
                        assert (page.total, page.exact) == (len(keep), True)
                        got += [r.domain for r in page.rows]
                    assert got == _expected(keep, sort, descending), (flt, sort, descending)


@pytest.mark.parametrize("filter_first", [0, stats.FILTER_FIRST])  # a filter's rows read first, or a sort index
def test_every_order_pages_through_one_total_order_on_sqlite(tmp_path, monkeypatch, filter_first):
    monkeypatch.setattr(stats, "FILTER_FIRST", filter_first)
    _check_every_order(f"sqlite:///{tmp_path / 'd.db'}")


def test_a_count_past_the_cap_is_a_lower_bound(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    round_id = _fill(url)
    with dbm.session(url) as db:
        biggest = sum(r.pages == 20 for r in domain_page(db, round_id, limit=1000).rows)
        monkeypatch.setattr(stats, "COUNT_CAP", biggest)
        assert (domain_page(db, round_id).total, domain_page(db, round_id).exact) == (200, True)  # from the totals
        wide = domain_page(db, round_id, min_pages=1, limit=100)
        assert (wide.total, wide.exact, len(wide.rows)) == (biggest, False, 100)
        narrow = domain_page(db, round_id, min_pages=20, limit=1000)
        assert (narrow.total, narrow.exact, len(narrow.rows)) == (biggest, True, biggest)


@pytest.mark.services
def test_every_order_pages_through_one_total_order_on_postgres(postgres_db):
    _check_every_order(postgres_db)
