"""Metadata tables (SQLModel) and the engine. Bulk data lives in files (see storage.py), never here.

The schema is owned by Alembic (`webrecall/migrations/`); `migrate()` runs `alembic upgrade head`. It runs once, from
`webrecall init` (the compose `migrate` service); every other entry point calls `ensure_schema()`, which only checks.

Datetimes: every `datetime` field is SQLModel's `UTCDateTime` (a TypeDecorator over `DateTime(timezone=True)`,
the type the migrations declare): it refuses naive values on write and hands back aware UTC datetimes on read, on
SQLite as on PostgreSQL, so no caller converts zones. Write times with `utcnow()`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, event, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
M = TypeVar("M", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_storable(text: str, *, what: str = "text") -> None:
    """ValueError for text no database column can hold: NUL (PostgreSQL's text refuses it) and lone surrogates
    (no UTF-8 encoding exists for them; JSON's `\\ud800` escape makes one)."""
    for ch in text:
        if ch == "\0":
            raise ValueError(f"{what} contains a NUL character")
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(f"{what} contains a lone surrogate U+{ord(ch):04X} (not valid Unicode text)")


def read_json(model: type[M], data: dict[str, Any] | None) -> M:
    """A JSON column typed by `model` (`Round.params`, `Round.totals`): an old row reads with defaults for what it
    lacks, and a value that does not fit its type any more (a row written by another version) reads as missing
    rather than failing the reader."""
    data = dict(data or {})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        return model.model_validate({k: v for k, v in data.items() if k not in bad})


class Round(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(index=True, unique=True)
    status: str = Field(default="pending", index=True)
    """One of `webrecall.core.lifecycle.status.Status` (the status machine there)."""
    crawl_id: str = ""
    base_url: str = ""
    threshold: float = 0.5
    top_k: int | None = None
    effective_threshold: float | None = None
    model_id: int | None = Field(default=None, foreign_key="model.id")
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    totals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class WarcTask(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("round_id", "phase", "warc_url"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    phase: str = "recall"
    """'index' (read the WARC into the page cache) or 'recall' (score and keep)."""
    warc_url: str
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    pages: int = 0
    html_pages: int = 0
    recalled: int = 0
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Model(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(index=True, unique=True)
    round_id: int | None = Field(default=None, index=True)
    path: str
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class DomainStat(SQLModel, table=True):
    """One row per (round, host): a whole crawl has tens of millions a round. Each sort key of the domain list
    (`views.stats.domain_page`) has an index (round, key, domain), and the related flag and a site one by fraction,
    so a page of the list is an index range, never a sort of the round; `domain` alone serves one domain across
    rounds; the pattern-ops index serves host prefixes on PostgreSQL whatever the database's collation."""

    __table_args__ = (
        *(Index(f"ix_domainstat_round_{key}", "round_id", key, "domain")
          for key in ("fraction", "recalled", "pages", "tokens", "recalled_tokens")),
        Index("ix_domainstat_round_related", "round_id", "related", "fraction", "domain"),
        Index("ix_domainstat_round_site", "round_id", "site", "fraction", "domain"),
        Index("ix_domainstat_domain", "domain"),
        Index("ix_domainstat_round_prefix", "round_id", "domain", postgresql_ops={"domain": "text_pattern_ops"}),
    )  # fmt: skip
    round_id: int = Field(foreign_key="round.id", primary_key=True)
    domain: str = Field(primary_key=True)
    site: str = ""
    pages: int = 0
    recalled: int = 0
    fraction: float = 0.0
    chars: int = Field(default=0, sa_column=Column("tokens", BigInteger, nullable=False))
    """Characters of the pages' extracted text (the column keeps its first name, `tokens`); 64-bit: a large site's
    pages over a whole crawl pass 2^31 characters."""
    recalled_chars: int = Field(default=0, sa_column=Column("recalled_tokens", BigInteger, nullable=False))
    score_mean: float = 0.0
    score_p10: float = 0.0
    score_p50: float = 0.0
    score_p90: float = 0.0
    related: bool = False


class Label(SQLModel, table=True):
    """Append-only history: the latest per (pattern, annotator) wins; nothing is ever updated."""

    id: int | None = Field(default=None, primary_key=True)
    pattern: str = Field(index=True)
    scope: str = "pattern"
    """'pattern' (a URL pattern) or 'url' (exactly one page, e.g. from a labels/*.jsonl file)."""
    label: str
    annotator: str = Field(default="", index=True)
    round_id: int | None = None
    reason: str = ""
    source: str = ""
    queue_item_id: int | None = Field(default=None, index=True)
    shown: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """What the annotator saw when labeling (sample URLs, scores), for audits."""
    created_at: datetime = Field(default_factory=utcnow)


QueueKind = Literal["uncertain", "audit", "gold", "page"]
"""'uncertain' (by priority), 'audit' (the random stratified slice), 'gold' (known answer, mixed in), 'page' (one
page of a small site: `labelling.page_items`). The one list of kinds: the queue writes them, the API filters by them."""
QUEUE_KINDS: tuple[str, ...] = get_args(QueueKind)


class QueueItem(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("round_id", "domain"),
        Index("ix_queueitem_domain", "domain"),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    domain: str
    priority: float = Field(default=0.0, index=True)
    reason: str = ""
    kind: str = Field(default="uncertain", index=True)
    """One of QUEUE_KINDS."""
    strategy: str = Field(default="", sa_column_kwargs={"server_default": ""})
    """What chose a page item (`labelling.strategies.STRATEGIES`: uncertainty, disagreement, coverage, audit); '' for
    other kinds."""
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    labels_needed: int = 1
    """2 for items chosen for double labeling."""
    labeled_by: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True)
    """pending -> claimed -> done; an expired claim returns to pending; `superseded` once a later round queues the
    same domain again (labelling.queue.supersede)."""
    claimed_by: str = ""
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# A claim reads the open items in priority order: only those are indexed, so finished items cost it nothing.
_OPEN = text("status IN ('pending', 'claimed')")
Index("ix_queueitem_open_priority", QueueItem.__table__.c.priority.desc(), QueueItem.__table__.c.id,  # type: ignore[attr-defined]
      postgresql_where=_OPEN, sqlite_where=_OPEN)  # fmt: skip


class QueueSkip(SQLModel, table=True):
    """One annotator's skip of a queue item: the item leaves that annotator's queue only and stays open for the
    others (as in Prodigy and Argilla); an undo deletes the row."""

    __table_args__ = (UniqueConstraint("queue_item_id", "annotator"),)
    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queueitem.id", index=True)
    annotator: str = Field(index=True)
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Annotator(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    password_hash: str
    role: str = "annotator"
    """'annotator', 'reviewer' or 'admin'."""
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL per process. SQLite gets WAL and a busy timeout so processes can share it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # PostgreSQL: a small pool per process (each Celery worker process holds its own), checked before use and
    # recycled so a server-side idle timeout never hands a dead connection to a task
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800)


def session(url: str) -> Session:
    return Session(get_engine(url), expire_on_commit=False)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str) -> None:
    """`alembic upgrade head` on `url` (safe to rerun)."""
    from alembic import command

    get_engine(url)  # creates the SQLite parent dir
    command.upgrade(_alembic_config(url), "head")


def schema_revision(url: str) -> tuple[str | None, str]:
    """(the database's Alembic revision, or None for an empty database; the code's head revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(url)).get_current_head() or ""
    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision(), head


def ensure_schema(url: str) -> None:
    """Check that the database is at the code's schema; never upgrades it (that is `webrecall init`'s job, run once).

    The one exception is the embedded default: an empty SQLite database is created here, so a new user's first
    command works without a setup step (one process, nothing to race). Raises FatalError with what to run."""
    from webrecall.core.errors import FatalError

    current, head = schema_revision(url)
    if current == head:
        return
    if current is None and url.startswith("sqlite"):
        migrate(url)
        return
    where = url.split("@")[-1]  # no credentials in messages
    state = "has no webrecall schema" if current is None else f"is at schema revision {current}, this code needs {head}"
    raise FatalError(f"the database ({where}) {state}: run `webrecall init` once (the compose `migrate` service does)")
