"""What every command module shares: the typer app and its groups, output (`--json` or rich tables), and the
bad-input contract (exit code 2 with the reason, never a traceback)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from webrecall.core import db as dbm
from webrecall.core.errors import WebrecallError
from webrecall.core.settings import Settings

app = typer.Typer(
    help="Recall the code-related pages of a web crawl.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
)
round_app = typer.Typer(help="Start and inspect recall rounds.", no_args_is_help=True)
labels_app = typer.Typer(help="URL-pattern labels.", no_args_is_help=True)
app.add_typer(round_app, name="round")
app.add_typer(labels_app, name="labels")
domains_app = typer.Typer(help="Per-domain statistics and URL-pattern proposals.")
app.add_typer(domains_app, name="domains")
annotators_app = typer.Typer(help="Annotator accounts for the Streamlit app.", no_args_is_help=True)
app.add_typer(annotators_app, name="annotators")
index_app = typer.Typer(help="The crawl's URL index (Common Crawl's columnar index and CDX API).", no_args_is_help=True)
app.add_typer(index_app, name="index")
console = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def _settings() -> Settings:
    return Settings()


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _emit(data: Any, as_json: bool, table: Table | list[Table] | None = None, *, title: str = "") -> None:
    """`--json`: one JSON object; else the tables given, or `data` (a dict) as a two-column table."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=_json_default, ensure_ascii=False) + "\n")
        return
    if table is None:
        table = _pairs(title, list(data.items()) if isinstance(data, dict) else [("", data)])
    for t in table if isinstance(table, list) else [table]:
        Console().print(_whole_headers(t))


def _whole_headers(table: Table) -> Table:
    """In a narrow terminal a table wraps, never cuts ("pag…"): a header word sets its column's least width,
    a number column is exactly as wide as its widest number or header word (the rest is left to text columns),
    and long text folds onto more lines."""
    for column in table.columns:
        least = max((len(w) for w in str(column.header).split()), default=0)
        if column.justify == "right":
            widest = max((len(str(c)) for c in column.cells), default=0)
            column.min_width = column.max_width = max(least, widest)
        else:
            column.min_width = max(column.min_width or 0, least)
        if column.overflow == "ellipsis":
            column.overflow = "fold"
    return table


def _text(value: Any) -> str:
    """A value as a person reads it in a table cell: numbers with separators, dicts as `key value, ...`."""
    if value is None or value == {} or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _pairs(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, _text(value))
    return table


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@contextmanager
def _reasons() -> Iterator[None]:
    """Bad input ends the command with exit code 2 and its reason, never a traceback."""
    try:
        yield
    except (ValueError, WebrecallError) as exc:
        _fail(str(exc))


def _ready() -> Settings:
    """Settings, with the database checked to be at the code's schema (`webrecall init` creates or upgrades it)."""
    settings = _settings()
    _data_dir(settings)
    with _reasons():
        dbm.ensure_schema(settings.db_url)
    return settings


def _data_dir(settings: Settings) -> None:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True) if "://" not in settings.data_dir else None
