"""Many metadata rows at once: a round over a whole crawl writes tens of millions of DomainStat rows.

PostgreSQL gets them through COPY (psycopg's `cursor.copy`, rows streamed, no statement per row); any other
database through SQLAlchemy's executemany, in batches. Both write inside the caller's transaction, so a delete
before and the commit after stay one unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from more_itertools import chunked
from sqlalchemy import insert, inspect
from sqlmodel import Session, SQLModel

BATCH = 50_000


def _columns(model: type[SQLModel]) -> list[tuple[str, str, Any]]:
    """(attribute, column name, default) of every column: attributes and columns may be named apart."""
    out = []
    for attr in inspect(model).column_attrs:
        field = model.model_fields.get(attr.key)
        out.append((attr.key, attr.columns[0].name, field.get_default(call_default_factory=True) if field else None))
    return out


def _filled(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield {key: row.get(key, default) for key, _, default in columns}


def copy_rows(db: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> int:
    """COPY rows (dicts keyed by attribute) into `model`'s table on PostgreSQL; returns the rows written."""
    from psycopg import sql

    columns = _columns(model)
    raw = db.connection().connection.driver_connection
    assert raw is not None, "the session's connection is closed"
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(str(model.__tablename__)), sql.SQL(", ").join(sql.Identifier(name) for _, name, _ in columns)
    )
    n = 0
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in _filled(rows, columns):
            copy.write_row(tuple(row.values()))
            n += 1
    return n


def executemany_rows(db: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]], *,
                     batch: int = BATCH) -> int:  # fmt: skip
    """The same rows through SQLAlchemy's bulk insert (executemany), `batch` at a time; any database."""
    n = 0
    for chunk in chunked(_filled(rows, _columns(model)), batch):
        db.exec(insert(model), params=chunk)
        n += len(chunk)
    return n


def insert_rows(db: Session, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows in the session's transaction by the fastest path its database has."""
    if db.get_bind().dialect.name == "postgresql":
        return copy_rows(db, model, rows)
    return executemany_rows(db, model, rows)
