"""`webrecall`: the command line over recall/ (embedded default: SQLite + a local process pool)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from recall import db as dbm
from recall import labels as labels_mod
from recall.errors import WebrecallError
from recall.settings import Settings

app = typer.Typer(
    help="Recall the code-related pages of a web crawl.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
)
round_app = typer.Typer(help="Start and inspect recall rounds.", no_args_is_help=True)
labels_app = typer.Typer(help="URL-pattern labels.", no_args_is_help=True)
app.add_typer(round_app, name="round")
app.add_typer(labels_app, name="labels")
console = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def _settings() -> Settings:
    return Settings()


def _emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
    elif table is not None:
        Console().print(table)
    else:
        Console().print_json(json.dumps(data, default=str))


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _ensure_db(settings: Settings) -> None:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True) if "://" not in settings.data_dir else None
    dbm.migrate(settings.db_url)


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create or upgrade the database and the data dir (safe to rerun)."""
    settings = _settings()
    _ensure_db(settings)
    _emit({"database": settings.db_url, "data_dir": settings.data_dir, "status": "ok"}, as_json)


def round_summary(rnd: dbm.Round) -> dict[str, Any]:
    t = rnd.totals or {}
    wall = (rnd.finished_at - rnd.started_at).total_seconds() if rnd.finished_at and rnd.started_at else None
    return {
        "id": rnd.number, "status": rnd.status, "crawl": rnd.crawl_id, "threshold": rnd.threshold,
        "top_k": rnd.top_k, "effective_threshold": rnd.effective_threshold,
        "pages": t.get("pages", 0), "html_pages": t.get("html_pages", 0), "recalled": t.get("recalled", 0),
        "domains": t.get("domains", 0), "related_domains": t.get("related_domains", 0),
        "errors": t.get("errors", {}), "pages_per_s": t.get("pages_per_s", 0.0),
        "wall_seconds": round(wall, 2) if wall else None,
        "wall_pages_per_s": round(t.get("html_pages", 0) / wall, 2) if wall else None,
        "warcs": t.get("warcs", 0), "warcs_failed": t.get("warcs_failed", 0),
        "model": t.get("model", {}), "eval": t.get("eval"), "error": rnd.error,
    }  # fmt: skip


class _Bar:
    """Rich progress per phase: WARC files done/total, pages and pages/s, ETA."""

    def __init__(self, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[pages]} pages, {task.fields[rate]} pages/s"), TimeElapsedColumn(),
            TimeRemainingColumn(), console=console, disable=quiet,
        )  # fmt: skip
        self.tasks: dict[str, Any] = {}
        self.pages: dict[str, int] = {}
        self.start = time.perf_counter()

    def __call__(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=event["total"], pages=0, rate="-")
            self.pages[phase] = 0
        stats = event.get("stats", {})
        self.pages[phase] += int(stats.get("html_pages", stats.get("total", 0)))
        rate = self.pages[phase] / max(time.perf_counter() - self.start, 1e-6)
        self.progress.update(self.tasks[phase], completed=event["done"], pages=self.pages[phase], rate=f"{rate:.0f}")


@round_app.command("start")
def round_start(
    crawl: Annotated[str, typer.Option(help="Crawl id, e.g. CC-MAIN-2024-22")] = "",
    base_url: Annotated[str, typer.Option(help="Source base URL (default: settings)")] = "",
    warc: Annotated[list[str] | None, typer.Option(help="WARC path or URL (repeatable) instead of a crawl")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N WARC files")] = None,
    sample: Annotated[float | None, typer.Option(help="Use a random fraction of the WARC files")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample")] = 0,
    seed_pattern: Annotated[list[str] | None, typer.Option(help="Positive URL pattern (repeatable)")] = None,
    seed_file: Annotated[Path | None, typer.Option(help="JSONL of positive texts ({'text': ...})")] = None,
    threshold: Annotated[float | None, typer.Option(help="Keep pages scoring at least this")] = None,
    top_k: Annotated[int | None, typer.Option(help="Keep the K best pages instead of a threshold")] = None,
    eval_labels: Annotated[Path | None, typer.Option(help="url-level labels JSONL to measure the round")] = None,
    processes: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a recall round to the end (index -> train -> recall -> domain stats)."""
    from recall.rounds import RoundSpec, create_round, run_round

    settings = _settings()
    _ensure_db(settings)
    spec = RoundSpec(
        crawl_id=crawl, base_url=base_url, warcs=list(warc or []), limit=limit, sample=sample, sample_seed=seed,
        seed_patterns=list(seed_pattern or []), seed_file=str(seed_file) if seed_file else None,
        threshold=threshold, top_k=top_k, eval_labels=str(eval_labels) if eval_labels else None,
    )  # fmt: skip
    try:
        rnd = create_round(settings, spec)
        bar = _Bar(quiet=as_json)
        with bar.progress:
            rnd = run_round(settings, rnd.id or 0, processes=processes, progress=bar)
    except (ValueError, WebrecallError) as exc:
        _fail(str(exc))
    _emit(round_summary(rnd), as_json, None if as_json else _summary_table(round_summary(rnd)))


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"round {summary['id']}: {summary['status']}", show_header=False)
    for key in ("pages", "html_pages", "recalled", "domains", "related_domains", "pages_per_s", "wall_pages_per_s",
                "effective_threshold", "errors", "eval"):  # fmt: skip
        if summary.get(key) not in (None, {}, ""):
            table.add_row(key, json.dumps(summary[key]) if isinstance(summary[key], dict) else str(summary[key]))
    return table


@round_app.command("status")
def round_status(
    number: Annotated[int | None, typer.Argument(help="Round number (default: the latest)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Status, progress and totals of a round."""
    from recall.rounds import round_by_number, warc_tasks

    settings = _settings()
    _ensure_db(settings)
    try:
        rnd = round_by_number(settings, number)
    except ValueError as exc:
        _fail(str(exc))
    tasks = warc_tasks(settings, rnd.id or 0)
    summary = round_summary(rnd)
    summary["tasks"] = {
        phase: {s: sum(1 for t in tasks if t.phase == phase and t.status == s) for s in {t.status for t in tasks}}
        for phase in ("index", "recall")
    }
    _emit(summary, as_json, None if as_json else _summary_table(summary))


@round_app.command("list")
def round_list(as_json: JsonOpt = False) -> None:
    """All rounds, newest first."""
    from sqlmodel import col, select

    settings = _settings()
    _ensure_db(settings)
    with dbm.session(settings.db_url) as db:
        rounds = db.exec(select(dbm.Round).order_by(col(dbm.Round.number).desc())).all()
    data = [round_summary(r) for r in rounds]
    table = Table("round", "status", "html pages", "recalled", "domains")
    for r in data:
        table.add_row(str(r["id"]), r["status"], str(r["html_pages"]), str(r["recalled"]), str(r["domains"]))
    _emit(data, as_json, table)


@round_app.command("cancel")
def round_cancel(number: int, as_json: JsonOpt = False) -> None:
    """Cancel a round: pending WARC tasks are not started."""
    from recall.rounds import round_by_number, set_status

    settings = _settings()
    try:
        rnd = round_by_number(settings, number)
    except ValueError as exc:
        _fail(str(exc))
    if rnd.status in ("done", "failed", "cancelled"):
        _fail(f"round {number} is already {rnd.status}")
    rnd = set_status(settings, rnd.id or 0, "cancelled")
    _emit({"id": rnd.number, "status": rnd.status}, as_json)


@app.command()
def domains(
    round_no: Annotated[int | None, typer.Option("--round", help="Round number (default: the latest)")] = None,
    related: Annotated[bool, typer.Option(help="Only domains over the related fraction")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Per-domain statistics of a round, by recalled fraction then page mass."""
    from sqlmodel import col, select

    from recall.rounds import round_by_number

    settings = _settings()
    _ensure_db(settings)
    try:
        rnd = round_by_number(settings, round_no)
    except ValueError as exc:
        _fail(str(exc))
    with dbm.session(settings.db_url) as db:
        query = select(dbm.DomainStat).where(dbm.DomainStat.round_id == rnd.id)
        if related:
            query = query.where(col(dbm.DomainStat.related).is_(True))
        query = query.order_by(col(dbm.DomainStat.fraction).desc(), col(dbm.DomainStat.pages).desc()).limit(limit)
        rows = [r.model_dump() for r in db.exec(query).all()]
    table = Table("domain", "pages", "recalled", "fraction", "p50 score", "related")
    for r in rows:
        table.add_row(r["domain"], str(r["pages"]), str(r["recalled"]), f"{r['fraction']:.2f}",
                      f"{r['score_p50']:.2f}", "yes" if r["related"] else "")  # fmt: skip
    _emit({"round": rnd.number, "data": rows, "count": len(rows)}, as_json, table)


@labels_app.command("import")
def labels_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of pattern or url labels")],
    annotator: Annotated[str, typer.Option(help="Annotator for rows that name none")] = "import",
    as_json: JsonOpt = False,
) -> None:
    """Append labels: rows {"pattern"|"url": ..., "label": "code"|"non-code"|"mixed", "annotator"?: ...}."""
    settings = _settings()
    _ensure_db(settings)
    try:
        with dbm.session(settings.db_url) as db:
            n = labels_mod.import_labels(db, labels_mod.read_jsonl(file), annotator=annotator, source=str(file))
    except ValueError as exc:
        _fail(str(exc))
    _emit({"imported": n, "file": str(file)}, as_json)


@labels_app.command("export")
def labels_export(output: Annotated[Path | None, typer.Option(help="File (default: stdout)")] = None) -> None:
    """The label history as JSONL (append-only: every label ever given)."""
    from sqlmodel import col, select

    settings = _settings()
    _ensure_db(settings)
    out = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    with dbm.session(settings.db_url) as db:
        for label in db.exec(select(dbm.Label).order_by(col(dbm.Label.id))):
            out.write(json.dumps(label.model_dump(), default=str, ensure_ascii=False) + "\n")
    if output:
        out.close()


@app.command("export")
def export_cmd(
    round_no: Annotated[int, typer.Option("--round", help="Round number")],
    output: Annotated[Path, typer.Option(help="Output file")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet")] = "jsonl",
    min_score: Annotated[float | None, typer.Option(help="Score floor above the round's threshold")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a round's recalled pages (url, domain, text, score, round, model, ...)."""
    from recall.export import export

    settings = _settings()
    _ensure_db(settings)
    try:
        with open(output, "wb") as fh:
            rows = export(settings, round_no, fh, fmt=fmt, min_score=min_score)  # type: ignore[arg-type]
    except ValueError as exc:
        output.unlink(missing_ok=True)
        _fail(str(exc))
    _emit({"rows": rows, "output": str(output), "format": fmt}, as_json)


@app.command()
def demo(
    corpus: Annotated[Path, typer.Option(help="Local Common-Crawl-shaped folder")] = Path("../shared/corpus"),
    limit: Annotated[int | None, typer.Option(help="WARC files to read")] = None,
    output: Annotated[Path, typer.Option(help="Data dir of the demo (reset each run)")] = Path("data/demo"),
    as_json: JsonOpt = False,
) -> None:
    """The main job end to end on the embedded default; writes <output>/summary.json."""
    from recall.demo import run_demo

    bar = _Bar(quiet=as_json)
    try:
        with bar.progress:
            summary = run_demo(corpus=corpus, limit=limit, output=output, progress=bar)
    except (ValueError, WebrecallError) as exc:
        _fail(str(exc))
    from recall.demo import summary_tables

    if as_json:
        _emit(summary, True)
    else:
        for table in summary_tables(summary):
            Console().print(table)
        console.print(f"summary written to {output / 'summary.json'}")


if __name__ == "__main__":
    app()
