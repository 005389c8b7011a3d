"""`webrecall`: the command line over recall/ (embedded default: SQLite + a local process pool)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
domains_app = typer.Typer(help="Per-domain statistics and URL-pattern proposals.")
app.add_typer(domains_app, name="domains")
annotators_app = typer.Typer(help="Annotator accounts for the Streamlit app.", no_args_is_help=True)
app.add_typer(annotators_app, name="annotators")
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


@contextmanager
def _reasons() -> Iterator[None]:
    """Bad input ends the command with exit code 2 and its reason, never a traceback."""
    try:
        yield
    except (ValueError, WebrecallError) as exc:
        _fail(str(exc))


def _ready() -> Settings:
    """Settings with the database and data dir created or upgraded (every command may be the first)."""
    settings = _settings()
    _ensure_db(settings)
    return settings


def _ensure_db(settings: Settings) -> None:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True) if "://" not in settings.data_dir else None
    dbm.migrate(settings.db_url)


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create or upgrade the database and the data dir (safe to rerun)."""
    settings = _ready()
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
    distributed: Annotated[bool, typer.Option(help="Enqueue on the Celery workers instead of running here")] = False,
    wait: Annotated[bool, typer.Option(help="With --distributed: wait until the round ends")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a recall round to the end (index -> train -> recall -> domain stats), here or on the workers."""
    from recall.rounds import RoundSpec, create_round, run_round

    settings = _ready()
    spec = RoundSpec(
        crawl_id=crawl, base_url=base_url, warcs=list(warc or []), limit=limit, sample=sample, sample_seed=seed,
        seed_patterns=list(seed_pattern or []), seed_file=str(seed_file) if seed_file else None,
        threshold=threshold, top_k=top_k, eval_labels=str(eval_labels) if eval_labels else None,
    )  # fmt: skip
    with _reasons():
        rnd = create_round(settings, spec)
        if distributed:
            rnd = _enqueue(settings, rnd.id or 0, wait=wait, quiet=as_json)
            _emit(round_summary(rnd), as_json, None if as_json else _summary_table(round_summary(rnd)))
            return
        bar = _Bar(quiet=as_json)
        with bar.progress:
            rnd = run_round(settings, rnd.id or 0, processes=processes, progress=bar)
    _emit(round_summary(rnd), as_json, None if as_json else _summary_table(round_summary(rnd)))


def _enqueue(settings: Settings, round_id: int, *, wait: bool, quiet: bool) -> dbm.Round:
    """Hand the round to the workers (`python -m workers start`: recall/ never imports celery); with `wait`,
    follow its progress in the database until it ends."""
    import subprocess

    from recall.rounds import TERMINAL, round_by_number, round_progress

    proc = subprocess.run([sys.executable, "-m", "workers", "start", str(round_id)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise WebrecallError(f"could not enqueue round {round_id}: {proc.stderr.strip()[-500:]}")
    while True:
        progress = round_progress(settings, round_id)
        if not wait or progress["status"] in TERMINAL:
            return round_by_number(settings, progress["round"])
        if not quiet:
            r = progress["recall"] if progress["status"] in ("recalling", "finalizing") else progress["index"]
            console.print(f"round {progress['round']} {progress['status']}: {r['warcs_done']}/{r['warcs_total']} "
                          f"WARC files, {progress['pages_per_s']} pages/s, ETA {progress['eta_seconds']} s")
        time.sleep(2.0)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Queues to consume: recall (WARC tasks), train")] = "recall,train",
    concurrency: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per core)")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "info",
    hostname: Annotated[str, typer.Option(help="Worker name (default: celery@<host>)")] = "",
) -> None:
    """Start a Celery worker on this machine (runs `celery -A workers.celery_app worker`)."""
    import os

    _ready()  # migrate before the workers start
    processes = str(concurrency or os.cpu_count() or 1)
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", queues, "-c", processes,
            "-l", loglevel] + (["-n", hostname] if hostname else [])  # fmt: skip
    os.execvp(argv[0], argv)


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"round {summary['id']}: {summary['status']}", show_header=False)
    for key in ("progress", "eta_seconds", "pages", "html_pages", "recalled", "domains", "related_domains",
                "pages_per_s", "wall_pages_per_s", "effective_threshold", "errors", "eval"):  # fmt: skip
        if summary.get(key) not in (None, {}, ""):
            table.add_row(key, json.dumps(summary[key]) if isinstance(summary[key], dict) else str(summary[key]))
    return table


@round_app.command("status")
def round_status(
    number: Annotated[int | None, typer.Argument(help="Round number (default: the latest)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Status, progress and totals of a round."""
    from recall.rounds import round_by_number, round_progress, warc_tasks

    settings = _ready()
    with _reasons():
        rnd = round_by_number(settings, number)
    tasks = warc_tasks(settings, rnd.id or 0)
    summary = round_summary(rnd)
    summary["tasks"] = {
        phase: {s: sum(1 for t in tasks if t.phase == phase and t.status == s) for s in {t.status for t in tasks}}
        for phase in ("index", "recall")
    }
    progress = round_progress(settings, rnd.id or 0)
    summary["progress"] = {
        phase: f"{progress[phase]['warcs_done']}/{progress[phase]['warcs_total']} WARC files"
        for phase in ("index", "recall")
    }
    summary["eta_seconds"] = progress["eta_seconds"]
    _emit(summary, as_json, None if as_json else _summary_table(summary))


@round_app.command("list")
def round_list(as_json: JsonOpt = False) -> None:
    """All rounds, newest first."""
    from sqlmodel import col, select

    settings = _ready()
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
    with _reasons():
        rnd = round_by_number(settings, number)
    if rnd.status in ("done", "failed", "cancelled"):
        _fail(f"round {number} is already {rnd.status}")
    rnd = set_status(settings, rnd.id or 0, "cancelled")
    _emit({"id": rnd.number, "status": rnd.status}, as_json)


@domains_app.callback(invoke_without_command=True)
def domains(
    ctx: typer.Context,
    round_no: Annotated[int | None, typer.Option("--round", help="Round number (default: the latest)")] = None,
    related: Annotated[bool, typer.Option(help="Only domains over the related fraction")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Per-domain statistics of a round, by recalled fraction then page mass (`domains show D`: proposals)."""
    from sqlmodel import col, select

    if ctx.invoked_subcommand is not None:
        return

    from recall.rounds import round_by_number

    settings = _ready()
    with _reasons():
        rnd = round_by_number(settings, round_no)
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


@domains_app.command("show")
def domains_show(
    domain: Annotated[str, typer.Argument(help="Host, e.g. docs.djangoproject.com")],
    round_no: Annotated[int | None, typer.Option("--round", help="Round number (default: the latest)")] = None,
    samples: Annotated[int, typer.Option(min=0, max=20, help="Sample pages per pattern")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """A domain's URL-pattern proposals: pages, recalled fraction, score percentiles and sample pages."""
    from recall.proposals import for_domain

    settings = _ready()
    with _reasons():
        data = for_domain(settings, domain.lower(), round_no=round_no, samples=samples)
    table = Table("pattern", "pages", "recalled", "fraction", "p10", "p50", "p90", "sample",
                  title=f"{domain} in round {data['round']}")  # fmt: skip
    table.columns[0].overflow = "fold"
    for p in data["proposals"]:
        first = p["samples"][0] if p["samples"] else {}
        scores = (f"{p[k]:.2f}" for k in ("fraction", "score_p10", "score_p50", "score_p90"))
        sample = (first.get("title") or first.get("url", ""))[:40]
        table.add_row(p["pattern"], str(p["pages"]), str(p["recalled"]), *scores, sample)
    _emit(data, as_json, table)


@round_app.command("report")
def round_report(
    number: Annotated[int | None, typer.Argument(help="Round number (default: the latest)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Growth over the previous round, model metrics on held-out labels, domains found, queue and labels."""
    from recall.report import round_report as build

    settings = _ready()
    with _reasons():
        data = build(settings, number)
    table = Table(title=f"round {data['round']} report", show_header=False)
    for key, value in data.items():
        table.add_row(key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
    _emit(data, as_json, table)


@labels_app.command("import")
def labels_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of pattern or url labels")],
    annotator: Annotated[str, typer.Option(help="Annotator for rows that name none")] = "import",
    as_json: JsonOpt = False,
) -> None:
    """Append labels: rows {"pattern"|"url": ..., "label": "code"|"non-code"|"mixed", "annotator"?: ...}."""
    settings = _ready()
    with _reasons():
        with dbm.session(settings.db_url) as db:
            n = labels_mod.import_labels(db, labels_mod.read_jsonl(file), annotator=annotator, source=str(file))
    _emit({"imported": n, "file": str(file)}, as_json)


@labels_app.command("export")
def labels_export(output: Annotated[Path | None, typer.Option(help="File (default: stdout)")] = None) -> None:
    """The label history as JSONL (append-only: every label ever given)."""
    from sqlmodel import col, select

    settings = _ready()
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
    fences: Annotated[bool, typer.Option(help="Keep code blocks as ``` fenced blocks in the text")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a round's recalled pages (url, domain, text, score, round, model, text_extractor, ...)."""
    from recall.export import export

    settings = _ready()
    try:
        with open(output, "wb") as fh:
            rows = export(settings, round_no, fh, fmt=fmt, min_score=min_score, fences=fences)  # type: ignore[arg-type]
    except ValueError as exc:
        output.unlink(missing_ok=True)
        _fail(str(exc))
    _emit({"rows": rows, "output": str(output), "format": fmt}, as_json)


@app.command()
def calibrate(
    labels: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="JSONL of url labels (code / non-code)")],
    warc: Annotated[list[str], typer.Option(help="WARC file holding labelled pages (repeatable)")],
    round_no: Annotated[int | None, typer.Option("--round", help="Whose model (default: the latest round)")] = None,
    target: Annotated[float, typer.Option(help="Share of the plain pipeline's kept code pages to keep")] = 0.99,
    as_json: JsonOpt = False,
) -> None:
    """Calibrate the cascade margin of trafilatura rounds on held-out labelled pages; set WEBRECALL_CASCADE_MARGIN.

    The cascade re-scores on a kept text that is not the cached one: with the default (cached) kept text it is
    off, so the margin is calibrated for `WEBRECALL_TEXT_EXTRACTOR` or, when that is the cache's, trafilatura."""
    from recall.calibration import calibrate_margin, labelled_scores
    from recall.rounds import round_classifier

    settings = _ready()
    with _reasons():
        truth = {row["url"]: labels_mod.normalize_label(row["label"]) == "code"
                 for row in labels_mod.read_jsonl(labels) if "url" in row}  # fmt: skip
        clf = round_classifier(settings, round_no)
        fast, full, ys = labelled_scores(
            warc, truth, clf, fast_extractor=settings.score_extractor,
            full_extractor=settings.text_extractor if settings.text_extractor != settings.score_extractor
            else "trafilatura",
            timeout=settings.http_timeout, retries=settings.http_retries,
        )  # fmt: skip
        result = calibrate_margin(fast, full, ys, threshold=settings.threshold, target=target)
    data = {**result.as_dict(), "model": clf.version, "threshold": settings.threshold, "target": target}
    table = Table("margin", "kept share", "rescored share", title=f"cascade margin: {result.margin}")
    for point in result.curve:
        table.add_row(f"{point['margin']:.2f}", f"{point['kept_share']:.3f}", f"{point['rescored_share']:.3f}")
    _emit(data, as_json, table)


@round_app.command("run")
def round_run(
    number: Annotated[int, typer.Argument(help="Round number (created by `round start` or the API)")],
    processes: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run or resume an existing round to the end here (the API's in-process runner; finished tasks are kept)."""
    from recall.rounds import TERMINAL, round_by_number, run_round, set_status

    settings = _ready()
    with _reasons():
        rnd = round_by_number(settings, number)
    if rnd.status in TERMINAL:
        _fail(f"round {number} is already {rnd.status}")
    try:
        rnd = run_round(settings, rnd.id or 0, processes=processes)
    except (ValueError, WebrecallError) as exc:
        set_status(settings, rnd.id or 0, "failed", error=str(exc), finished_at=dbm.utcnow())
        _fail(str(exc))
    _emit(round_summary(rnd), as_json, None if as_json else _summary_table(round_summary(rnd)))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API (uvicorn `api.main:app`); refuses to start with the default token in production."""
    import os

    from pydantic import ValidationError

    try:
        settings = _settings()
    except ValidationError as exc:
        _fail("; ".join(str(e["msg"]) for e in exc.errors()))
    _ensure_db(settings)
    argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", host, "--port", str(port),
            "--workers", str(workers), "--log-level", log_level]  # fmt: skip
    os.execvp(argv[0], argv)


@app.command()
def mirror(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Common-Crawl-shaped folder")],
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one)")] = 8765,
) -> None:
    """Serve a local folder as a Common Crawl source (crawl-data/<id>/warc.paths.gz, byte ranges) until stopped."""
    import signal
    import threading

    from recall.mirror import serve

    server, url = serve(str(directory), host=host, port=port)
    console.print(f"serving {directory} at {url}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):  # a timed wait lets the signal handler run
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown()


@app.command()
def annotator(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8501,
) -> None:
    """Serve the annotators' Streamlit app (`streamlit run annotator/streamlit_app.py`)."""
    import os

    _ready()  # migrate before the app starts
    script = Path(__file__).resolve().parents[1] / "annotator" / "streamlit_app.py"
    argv = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal"]  # fmt: skip
    os.execvp(argv[0], argv)


@annotators_app.command("add")
def annotators_add(
    name: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option(help="annotator, reviewer or admin")] = "annotator",
    password: Annotated[str, typer.Option(envvar="WEBRECALL_ANNOTATOR_PASSWORD", prompt=True, hide_input=True,
                                          confirmation_prompt=True, show_default=False,
                                          help="Read from the prompt or WEBRECALL_ANNOTATOR_PASSWORD")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an annotator account (the password is stored as a bcrypt hash)."""
    from recall.annotators import create_account

    settings = _ready()
    with _reasons():
        with dbm.session(settings.db_url) as db:
            account = create_account(db, name, password, role)
    _emit({"name": account.name, "role": account.role, "status": "created"}, as_json)


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
    with _reasons():
        with bar.progress:
            summary = run_demo(corpus=corpus, limit=limit, output=output, progress=bar)
    from recall.demo import summary_tables

    if as_json:
        _emit(summary, True)
    else:
        for table in summary_tables(summary):
            Console().print(table)
        console.print(f"summary written to {output / 'summary.json'}")


if __name__ == "__main__":
    app()
