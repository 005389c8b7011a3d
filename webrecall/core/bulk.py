"""Many metadata rows at once: a round over a whole crawl writes tens of millions of DomainStat rows.

PostgreSQL gets them through COPY (psycopg's `cursor.copy`, rows streamed, no statement per row); any other
database through SQLAlchemy's executemany, in batches. Both write inside the caller's transaction, so a delete
before and the commit after stay one unit, and both fill a column the rows leave out with the model's default
(an autoincrement id is left to the database).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from more_itertools import chunked, peekable
from sqlalchemy import JSON, insert, inspect
from sqlmodel import Session, SQLModel

BATCH = 50_000


@dataclass(frozen=True, slots=True)
class _Column:
    key: str
    """The model's attribute (a row's dict key)."""
    name: str
    """The table's column (may differ: DomainStat.chars is the column `tokens`)."""
    default: Any
    json: bool


def _columns(model: type[SQLModel], first: dict[str, Any]) -> list[_Column]:
    out = []
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        field = model.model_fields.get(attr.key)
        default = field.get_default(call_default_factory=True) if field else None
        if column.primary_key and column.autoincrement in (True, "auto") and attr.key not in first and default is None:
            continue  # the database numbers the rows
        out.append(_Column(attr.key, column.name, default, isinstance(column.type, JSON)))
    return out


def _filled(rows: Iterable[dict[str, Any]], columns: list[_Column]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield {c.key: row.get(c.key, c.default) for c in columns}


def copy_rows(db: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> int:
    """COPY rows (dicts keyed by attribute) into `model`'s table on PostgreSQL; returns the rows written."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    rows = peekable(rows)
    if not rows:
        return 0
    columns = _columns(model, rows.peek())
    raw = db.connection().connection.driver_connection
    assert raw is not None, "the session's connection is closed"
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(str(model.__tablename__)), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    json_keys = {c.key for c in columns if c.json}
    n = 0
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in _filled(rows, columns):
            copy.write_row(tuple(Jsonb(v) if k in json_keys else v for k, v in row.items()))
            n += 1
    return n


def executemany_rows(db: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]], *,
                     batch: int = BATCH) -> int:  # fmt: skip
    """The same rows through SQLAlchemy's bulk insert (executemany), `batch` at a time; any database."""
    rows = peekable(rows)
    if not rows:
        return 0
    n = 0
    for chunk in chunked(_filled(rows, _columns(model, rows.peek())), batch):
        db.exec(insert(model), params=chunk)
        n += len(chunk)
    return n


def insert_rows(db: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows in the session's transaction by the fastest path its database has."""
    if db.get_bind().dialect.name == "postgresql":
        return copy_rows(db, model, rows)
    return executemany_rows(db, model, rows)
