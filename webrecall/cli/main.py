"""`webrecall`: the command line over the core (embedded default: SQLite + a local process pool)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from webrecall.cli.base import (
    JsonOpt,
    _data_dir,
    _emit,
    _fail,
    _pairs,
    _ready,
    _reasons,
    _settings,
    annotators_app,
    app,
    console,
    domains_app,
    index_app,
    labels_app,
    round_app,
)
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.errors import WebrecallError
from webrecall.core.lifecycle.warc_task import TaskResult
from webrecall.core.queries import warc_tasks
from webrecall.core.settings import Settings


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create or upgrade the database (`alembic upgrade head`) and the data dir: once per upgrade (safe to rerun)."""
    settings = _settings()
    _data_dir(settings)
    dbm.migrate(settings.db_url)
    _emit({"database": settings.db_url, "data_dir": settings.data_dir, "status": "ok"}, as_json, title="webrecall init")


def round_summary(settings: Settings, rnd: dbm.Round, *, detail: bool = False) -> dict[str, Any]:
    """What `round start/status/list/run --json` print: the round's view, the one the API serves (`round_view`);
    `detail` adds the task counts per phase and status, the phases' progress and the ETA (`round status`)."""
    from webrecall.core.lifecycle.progress import round_view

    view = round_view(settings, rnd)
    out = {**view.model_dump(mode="json", exclude={"progress"}), "pages_per_s": view.progress.pages_per_s}
    if detail:
        tasks = warc_tasks(settings, rnd.id or 0)
        out["tasks"] = {phase: {s: sum(1 for t in tasks if t.phase == phase and t.status == s)
                                for s in {t.status for t in tasks}} for phase in ("index", "recall")}  # fmt: skip
        out["progress"] = {phase: f"{p.warcs_done}/{p.warcs_total} WARC files" + (f", {p.cancelled} cancelled"
                                                                               if p.cancelled else "")
                           for phase, p in (("index", view.progress.index), ("recall", view.progress.recall))}
        out["eta_seconds"], out["eta_partial"] = view.progress.eta_seconds, view.progress.eta_partial
    return out


def _emit_round(settings: Settings, rnd: dbm.Round, as_json: bool) -> None:
    summary = round_summary(settings, rnd)
    _emit(summary, as_json, None if as_json else _summary_table(summary))


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

    def __call__(self, result: TaskResult, done: int, total: int) -> None:
        phase, stats = result.phase, result.stats
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total, pages=0, rate="-")
            self.pages[phase] = 0
        self.pages[phase] += int(stats.get("html_pages", stats.get("total", 0)))
        rate = self.pages[phase] / max(time.perf_counter() - self.start, 1e-6)
        self.progress.update(self.tasks[phase], completed=done, pages=self.pages[phase], rate=f"{rate:.0f}")


def _scan(value: str | None) -> Literal["auto", "warc", "wet"] | None:
    if value is not None and value not in ("auto", "warc", "wet"):
        _fail(f"unknown scan {value!r}; valid: auto, warc, wet")
    return value  # type: ignore[return-value]


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
    holdout_labels: Annotated[Path | None, typer.Option(help="url-level labels JSONL of pages that never train "
                                                            "(measured apart, per kind and lang)")] = None,
    labels_needed: Annotated[int, typer.Option(min=1, max=10, help="Annotators per queued domain (2: double)")] = 1,
    scan: Annotated[str | None, typer.Option(help="What to read: wet (every page's WET text, then only the "
                                                  "candidates' records), warc (every record) or auto (wet where the "
                                                  "crawl has WET files and a URL index; default: settings)")] = None,
    second_stage: Annotated[bool | None, typer.Option(
        "--second-stage/--no-second-stage", help="Score with a second stage over the code signals and the fastText "
        "logit, trained on the labelled pages (default: settings)")] = None,
    processes: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core)")] = None,
    distributed: Annotated[bool, typer.Option(help="Enqueue on the Celery workers instead of running here")] = False,
    wait: Annotated[bool, typer.Option(help="With --distributed: wait until the round ends")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a recall round to the end (index -> train -> recall -> domain stats), here or on the workers."""
    from webrecall.core.lifecycle.local import run_round
    from webrecall.core.lifecycle.spec import RoundSpec, start_round

    settings = _ready()
    spec = RoundSpec(
        crawl_id=crawl, base_url=base_url, warcs=list(warc or []), limit=limit, sample=sample, sample_seed=seed,
        seed_patterns=list(seed_pattern or []), seed_file=str(seed_file) if seed_file else None,
        threshold=threshold, top_k=top_k, eval_labels=str(eval_labels) if eval_labels else None,
        holdout_labels=str(holdout_labels) if holdout_labels else None, labels_needed=labels_needed, scan=_scan(scan),
        second_stage=second_stage,
    )  # fmt: skip
    with _reasons():
        rnd = start_round(settings, spec)
        if distributed:
            rnd = _enqueue(settings, rnd.id or 0, wait=wait, quiet=as_json)
            _emit_round(settings, rnd, as_json)
            return
        bar = _Bar(quiet=as_json)
        with bar.progress:
            rnd = run_round(settings, rnd.id or 0, processes=processes, progress=bar)
    _emit_round(settings, rnd, as_json)


def _enqueue(settings: Settings, round_id: int, *, wait: bool, quiet: bool) -> dbm.Round:
    """Hand the round to the workers (`webrecall.workers.enqueue_round`); with `wait`, follow its progress in
    the database until it ends."""
    from webrecall.core.lifecycle.progress import round_progress
    from webrecall.core.lifecycle.status import TERMINAL
    from webrecall.core.queries import round_by_number
    from webrecall.workers import enqueue_round

    try:
        enqueue_round(settings, round_id)
    except WebrecallError:
        raise
    except Exception as exc:  # noqa: BLE001 - any broker failure means the round was not enqueued
        raise WebrecallError(f"could not enqueue round {round_id}: {exc}") from exc
    while True:
        progress = round_progress(settings, round_id)
        if not wait or progress.status in TERMINAL:
            return round_by_number(settings, progress.round)
        if not quiet:
            r = progress.recall if progress.status in ("recalling", "finalizing") else progress.index
            eta = _eta(progress.eta_seconds, progress.eta_partial)
            console.print(f"round {progress.round} {progress.status}: {r.warcs_done}/{r.warcs_total} "
                          f"WARC files, {progress.pages_per_s} pages/s, ETA {eta}")
        time.sleep(2.0)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Queues to consume: recall (WARC tasks), train")] = "recall,train",
    concurrency: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per core)")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "info",
    hostname: Annotated[str, typer.Option(help="Worker name (default: celery@<host>)")] = "",
) -> None:
    """Start a Celery worker on this machine (runs `celery -A webrecall.workers.celery_app worker`)."""
    import os

    _ready()  # the schema is checked before the workers start
    processes = str(concurrency or os.cpu_count() or 1)
    argv = [sys.executable, "-m", "celery", "-A", "webrecall.workers.celery_app", "worker", "-Q", queues,
            "-c", processes,
            "-l", loglevel] + (["-n", hostname] if hostname else [])  # fmt: skip
    os.execvp(argv[0], argv)


def _eta(seconds: float | None, partial: bool) -> str:
    """An ETA for a person: a lower bound says so (a step still to come has no measured time yet)."""
    if seconds is None:
        return "unknown"
    return f"at least {seconds} s" if partial else f"{seconds} s"


def _summary_table(summary: dict[str, Any]) -> Table:
    """A round for a person: the failure reason first, then progress and figures (`--json` has every field)."""
    keys = ("error", "progress", "eta_seconds", "pages", "html_pages", "recalled", "domains", "related_domains",
            "pages_per_s", "pages_per_task_s", "wall_seconds", "effective_threshold", "errors", "eval")  # fmt: skip
    rows = [(k, summary[k]) for k in keys if summary.get(k) not in (None, {}, "")]
    if summary.get("eta_partial"):
        rows = [(k, _eta(v, True) if k == "eta_seconds" else v) for k, v in rows]
    if failed := summary.get("failed_files"):  # one line a file: the reason names it
        rows.append(("failed_files", "\n".join(f"{f['phase']} {f['status']}: {f['error']}" for f in failed)))
    return _pairs(f"round {summary['id']}: {summary['status']}", rows)


@round_app.command("status")
def round_status(
    number: Annotated[int | None, typer.Argument(help="Round number (default: the latest)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Status, progress and totals of a round."""
    from webrecall.core.queries import round_by_number

    settings = _ready()
    with _reasons():
        rnd = round_by_number(settings, number)
    summary = round_summary(settings, rnd, detail=True)
    _emit(summary, as_json, None if as_json else _summary_table(summary))


@round_app.command("list")
def round_list(as_json: JsonOpt = False) -> None:
    """All rounds, newest first."""
    from webrecall.core.queries import all_rounds

    settings = _ready()
    with dbm.session(settings.db_url) as db:
        rounds = all_rounds(db)
    data = [round_summary(settings, r) for r in rounds]
    table = Table("round", "status", "html pages", "recalled", "domains")
    for r in data:
        table.add_row(str(r["id"]), r["status"], str(r["html_pages"]), str(r["recalled"]), str(r["domains"]))
    _emit(data, as_json, table)


@round_app.command("cancel")
def round_cancel(number: int, as_json: JsonOpt = False) -> None:
    """Cancel a round, for good: pending WARC tasks are marked cancelled, running ones stop at their next batch, its
    training is stopped."""
    from webrecall.core.lifecycle.status import cancel_round
    from webrecall.core.queries import round_by_number

    settings = _settings()
    with _reasons():
        rnd = round_by_number(settings, number)
    if rnd.status in ("done", "failed", "cancelled"):
        _fail(f"round {number} is already {rnd.status}")
    if settings.execution == "celery":  # also revoke its queued tasks on the workers
        from webrecall.workers import cancel_round as cancel_on_workers

        cancel_on_workers(settings, rnd.id or 0)
    rnd = cancel_round(settings, rnd.id or 0)
    _emit({"id": rnd.number, "status": rnd.status}, as_json, title=f"round {rnd.number}")


@domains_app.callback(invoke_without_command=True)
def domains(
    ctx: typer.Context,
    round_no: Annotated[int | None, typer.Option("--round", help="Round number (default: the latest)")] = None,
    related: Annotated[bool, typer.Option(help="Only domains over the related fraction")] = False,
    sort: Annotated[str, typer.Option(help="fraction, recalled, pages, chars, recalled_chars, rule_distance, "
                                           "domain")] = "fraction",
    ascending: Annotated[bool, typer.Option("--asc", help="Smallest first (default: largest first)")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Per-domain statistics of a round, sorted (`--sort`), `--limit` at a time (`domains show D`: one domain)."""
    from typing import get_args

    from webrecall.core.queries import round_by_number
    from webrecall.core.views.stats import DomainSort, domain_page, rule_distance

    if ctx.invoked_subcommand is not None:
        return
    if sort not in get_args(DomainSort):
        _fail(f"unknown sort {sort!r}; valid: {', '.join(get_args(DomainSort))}")
    settings = _ready()
    with _reasons():
        rnd = round_by_number(settings, round_no)
    with dbm.session(settings.db_url) as db:
        page = domain_page(
            db, rnd.id or 0, related=True if related else None, sort=sort, descending=not ascending,  # type: ignore[arg-type]
            related_fraction=settings.related_fraction, offset=offset, limit=limit,
        )  # fmt: skip
    rows = [{"round": rnd.number, **r.model_dump(exclude={"round_id"}),
             "rule_distance": rule_distance(r, settings.related_fraction)} for r in page.rows]  # fmt: skip
    shown = f"{offset + 1}-{offset + len(rows)}" if offset else f"{len(rows)}"
    total = f"{page.total:,}{'' if page.exact else '+'}"  # '+': a filter's count stops at a cap
    caption = f"{shown} of {total} domains{' (related)' if related else ''}, by {sort}"
    table = Table(title=f"round {rnd.number} domains", caption=caption)
    table.add_column("domain", overflow="fold", ratio=1)  # the one to wrap when the terminal is narrow
    for name in ("pages", "recalled", "fraction", "recalled chars", "p50 score", "related"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(r["domain"], f"{r['pages']:,}", f"{r['recalled']:,}", f"{r['fraction']:.2f}",
                      f"{r['recalled_chars']:,}", f"{r['score_p50']:.2f}", "yes" if r["related"] else "")  # fmt: skip
    _emit({"round": rnd.number, "data": rows, "count": page.total, "count_exact": page.exact, "offset": offset,
           "sort": sort}, as_json, table)  # fmt: skip


@domains_app.command("show")
def domains_show(
    domain: Annotated[str, typer.Argument(help="Host, e.g. docs.djangoproject.com")],
    round_no: Annotated[int | None, typer.Option("--round", help="Proposals of this round (default: the latest "
                                                                 "that saw the domain)")] = None,
    samples: Annotated[int, typer.Option(min=0, max=20, help="Sample pages per pattern")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """One domain: its stats in every round, queue items, labels and URL-pattern proposals (as GET /domains/D)."""
    from webrecall.core.views.domain_view import domain_view

    settings = _ready()
    with _reasons():
        view = domain_view(settings, domain, round_no=round_no, samples=samples)
    tables = [_domain_history(view), _domain_proposals(view)]
    if view["queue"]:
        queue = Table("round", "kind", "status", "priority", "reason", "labeled by", title="queue items")
        for q in view["queue"]:
            queue.add_row(str(q["round"]), q["kind"], q["status"], f"{q['priority']:.3f}", q["reason"],
                          ", ".join(q["labeled_by"]) or "-")  # fmt: skip
        tables.append(queue)
    labels = Table("pattern", "label", "annotator", "reason", "source", "when", title="labels on this host")
    labels.columns[0].overflow = "fold"
    for lb in view["labels"]:
        labels.add_row(lb["pattern"], lb["label"], lb["annotator"], lb["reason"] or "-", lb["source"] or "-",
                       str(lb["created_at"])[:16])  # fmt: skip
    if not view["labels"]:
        labels.caption = "nobody labeled this host yet"
    tables.append(labels)
    _emit(view, as_json, tables)


def _domain_history(view: dict[str, Any]) -> Table:
    table = Table("round", "pages", "recalled", "fraction", "recalled chars", "p10", "p50", "p90", "related",
                  title=f"{view['domain']}: every round")  # fmt: skip
    for h in view["history"]:
        table.add_row(str(h["round"]), f"{h['pages']:,}", f"{h['recalled']:,}", f"{h['fraction']:.2f}",
                      f"{h['recalled_chars']:,}", *(f"{h[k]:.2f}" for k in ("score_p10", "score_p50", "score_p90")),
                      "yes" if h["related"] else "")  # fmt: skip
    if not view["history"]:
        table.caption = "no round saw this host"
    return table


def _domain_proposals(view: dict[str, Any]) -> Table:
    table = Table("pattern", "pages", "recalled", "fraction", "p10", "p50", "p90", "sample",
                  title=f"URL-pattern proposals in round {view['round']}")  # fmt: skip
    table.columns[0].overflow = table.columns[-1].overflow = "fold"
    for p in view["proposals"]:
        first = p["samples"][0] if p["samples"] else {}
        scores = (f"{p[k]:.2f}" for k in ("fraction", "score_p10", "score_p50", "score_p90"))
        table.add_row(p["pattern"], f"{p['pages']:,}", f"{p['recalled']:,}", *scores,
                      first.get("title") or first.get("url", ""))  # fmt: skip
    return table


@round_app.command("report")
def round_report(
    number: Annotated[int | None, typer.Argument(help="Round number (default: the latest)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Growth over the previous round, model metrics on held-out labels, domains found, queue and labels."""
    from webrecall.core.lifecycle.finalize import round_report as build

    settings = _ready()
    with _reasons():
        data = build(settings, number)
    _emit(data, as_json, _report_tables(data))


def _report_tables(data: dict[str, Any]) -> list[Table]:
    g, model, ev = data["growth"] or {}, data["model"] or {}, data["eval"] or {}
    heldout, seeds = model.get("heldout") or {}, model.get("seeds") or {}
    growth = "-"
    if g.get("growth") is not None:
        growth = (f"{g['growth']:.1%}: {g['new_chars']:,} new chars over round {g['previous_round']}'s "
                  f"{g['recalled_chars_before']:,} ({g['new_pages']:,} new pages)")  # fmt: skip
    elif g:
        growth = f"first round: {g['new_pages']:,} pages, {g['new_chars']:,} chars"
    quality = [("model on held-out seeds", {k: heldout.get(k) for k in ("precision", "recall", "f1", "roc_auc")})]
    if ev:
        quality.append(("vs --eval-labels", {k: ev.get(k) for k in ("labeled_pages", "precision", "recall", "f1")}))
    queue = data["queue"] or {}
    main = _pairs(f"round {data['round']} report: {data['status']}", [
        ("recalled pages", data["recalled"]), ("recalled chars", data["recalled_chars"]), ("growth", growth),
        ("stop", f"{'yes' if data['stop'] else 'no'} (stops under {data['growth_stop']:.0%})"),
        ("related domains", data["related_domains"]), ("skipped and failed", data.get("errors")),
        ("model", model.get("version")), ("seeds", seeds), *quality, ("queue items", queue.get("status")),
        ("labels through the queue", queue.get("labels")), ("label conflicts", len(data["label_conflicts"])),
        ("redacted in export", _redacted(data.get("redactions"))),
    ])  # fmt: skip
    doms = data["domains"] or {}
    prev = g.get("previous_round")
    found = Table("", "domain", "pages", "recalled", f"recalled in round {prev}" if prev else "recalled before",
                  "fraction", title=f"related domains: {doms.get('new') or 0} new, {doms.get('grown') or 0} grown, "
                  f"{doms.get('dropped') or 0} dropped")  # fmt: skip
    found.columns[1].overflow = "fold"
    for column in found.columns[2:]:
        column.justify = "right"
    for kind in ("new", "grown"):
        for d in doms.get(f"{kind}_domains") or []:
            found.add_row(kind, d["domain"], f"{d['pages']:,}", f"{d['recalled']:,}", f"{d['recalled_before']:,}",
                          f"{d['fraction']:.2f}")  # fmt: skip
    for name in doms.get("dropped_domains") or []:
        found.add_row("dropped", name, "", "", "", "")
    tables = [main, found]
    if queue.get("page_item_yields"):
        pays = Table("strategy", "items", "labelled", "code", "yield", title="page items by strategy (yield: code / "
                     "labelled)")  # fmt: skip
        for name, y in queue["page_item_yields"].items():
            pays.add_row(name, str(y["items"]), str(y["labelled"]), str(y["code"]),
                         "-" if y["yield"] is None else f"{y['yield']:.0%}")  # fmt: skip
        tables.append(pays)
    if data.get("dedup"):
        tables.append(_dedup_table(data["round"], data["recalled"], data["dedup"]))
    if data["label_conflicts"]:
        conflicts = Table("pattern", "who said what", title="label conflicts (resolve on the Review page)")
        for c in data["label_conflicts"]:
            conflicts.add_row(c["pattern"], ", ".join(f"{a}: {lb}" for a, lb in c["labels"].items()))
        tables.append(conflicts)
    return tables


DEDUP_ROWS = (("pages", "pages"), ("exact_url", "copies of a URL"), ("exact_text", "copies of a text"),
              ("near_dup", "near duplicates"), ("contaminated", "benchmark overlap"), ("kept", "kept: exported"))


def _dedup_table(number: int, recalled: int, dedup: dict[str, Any]) -> Table:
    """Why an export has fewer pages than the round recalled: each copy removed and each page left out, counted."""
    this, overall = dedup.get("round") or {}, dedup.get("overall") or {}
    table = Table("", "this round", f"rounds 1-{number}", title="dedup: what an export keeps",
                  caption=f"{recalled:,} pages recalled (the pages row adds those fetched under labelled patterns); "
                  f"an export writes the {this.get('kept', 0):,} kept, with dedup and decontamination on (the "
                  "default): copies are removed and pages that overlap benchmarks are left out")  # fmt: skip
    for column in table.columns[1:]:
        column.justify = "right"
    for key, name in DEDUP_ROWS:
        table.add_row(name, f"{this.get(key, 0):,}", f"{overall.get(key, 0):,}")
    return table


def _redacted(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r["kinds"].items(), key=lambda kv: -kv[1]))
    return f"{r['total']:,} values in {r['pages']:,} pages" + (f" ({kinds})" if kinds else "")


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
            n = label_store.import_labels(db, label_store.read_jsonl(file), annotator=annotator, source=str(file))
    _emit({"imported": n, "file": str(file)}, as_json, title="labels import")


@labels_app.command("retract")
def labels_retract(
    label_id: Annotated[int, typer.Argument(help="The label's id (`labels export` shows it)")],
    reason: Annotated[str, typer.Option(help="Why: kept in the history with the retraction")],
    as_json: JsonOpt = False,
) -> None:
    """Retract a label: an undo row joins the history and the next round ignores the label."""
    settings = _ready()
    with _reasons(), dbm.session(settings.db_url) as db:
        try:
            row = label_store.retract(db, label_id, reason=reason, by="cli")
        except LookupError as exc:
            _fail(str(exc))
        data = {"id": row.id, "retracted": label_id, "pattern": row.pattern, "label": row.shown["label"],
                "annotator": row.annotator, "reason": row.reason}  # fmt: skip
    _emit(data, as_json, _pairs(f"label {label_id} retracted", list(data.items())))


@labels_app.command("export")
def labels_export(output: Annotated[Path | None, typer.Option(help="File (default: stdout)")] = None) -> None:
    """The label history as JSONL (append-only: every label ever given; a retraction is a row with source "undo"
    and the retracted label's id in shown.undoes)."""
    settings = _ready()
    out = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    with dbm.session(settings.db_url) as db:
        for label in label_store.history(db):
            out.write(json.dumps(label.model_dump(), default=str, ensure_ascii=False) + "\n")
    if output:
        out.close()


@app.command("export")
def export_cmd(
    round_no: Annotated[int, typer.Option("--round", help="Round number")],
    output: Annotated[Path, typer.Option(help="Output file (written whole or not at all)")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet")] = "jsonl",
    min_score: Annotated[float | None, typer.Option(help="Score floor above the round's threshold")] = None,
    dedup: Annotated[bool, typer.Option(help="Leave out removed copies (exact URL, exact text, near-dup)")] = True,
    decontaminate: Annotated[bool, typer.Option(help="Leave out pages overlapping a benchmark")] = True,
    fences: Annotated[bool, typer.Option(help="Keep code blocks as ``` fenced blocks in the text")] = False,
    redact: Annotated[bool, typer.Option(help="Replace secrets, e-mail and IP addresses by typed placeholders "
                                              "(<SECRET:kind>, <EMAIL>, <IP_ADDRESS>)")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Write a round's recalled pages (url, domain, text, score, round, model, text_extractor, dedup_of,
    contaminated, redactions, ...).

    The pages go to a temporary file beside `output`, renamed over it only once the export succeeded: a failed
    export never leaves a partial file or replaces a good one."""
    import tempfile

    from webrecall.core.lifecycle.export import export
    from webrecall.core.pipeline.writers import get_writer

    with _reasons():
        get_writer(fmt)
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        _fail(f"--min-score must be between 0 and 1 (scores are probabilities), got {min_score}")
    target = output.expanduser()
    if target.is_dir():
        _fail(f"--output {output} is a directory; give a file name")
    if not target.parent.is_dir():
        _fail(f"the directory of --output {output} does not exist")
    settings = _ready()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        _fail(f"cannot write in {target.parent}: {exc.strerror or exc}")
    try:
        with os.fdopen(fd, "wb") as fh:
            rows = export(settings, round_no, fh, fmt=fmt, min_score=min_score, dedup=dedup,
                          decontaminate=decontaminate, fences=fences, redact=redact)
        os.replace(tmp, target)
    except (ValueError, WebrecallError, OSError) as exc:
        Path(tmp).unlink(missing_ok=True)
        _fail(str(exc) if not isinstance(exc, OSError) else f"cannot write {output}: {exc.strerror or exc}")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _emit({"rows": rows, "output": str(output), "format": fmt}, as_json, title=f"round {round_no} export")


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
    from webrecall.core.lifecycle.model_store import round_classifier
    from webrecall.core.model.calibration import calibrate_margin, labelled_scores

    settings = _ready()
    with _reasons():
        truth = {row["url"]: label_store.normalize_label(row["label"]) == "code"
                 for row in label_store.read_jsonl(labels) if "url" in row}  # fmt: skip
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


@app.command()
def generalise(
    corpus: Annotated[Path, typer.Option(exists=True, file_okay=False, help="Folder with labels/ and crawl-data/")] = (
        Path("../shared/corpus")
    ),
    variant: Annotated[list[str] | None, typer.Option(help="today, signals, signals+synthetic (repeatable)")] = None,
    seed: int = 0,
    target: Annotated[float, typer.Option(help="Precision the threshold must reach on held-out seeds")] = 0.99,
    bench: Annotated[bool, typer.Option(help="Also CC-MAIN-BENCH F1 (two more models per variant)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The generalisation check: a slice of CC-MAIN-DEV's hosts (by host hash) and its hand-judged pages held out;
    recall and precision on them."""
    from webrecall.core.evaluation import generalise as gen

    settings = _ready()
    with _reasons():
        names = variant or list(gen.VARIANTS)
        if bad := [v for v in names if v not in gen.VARIANTS]:
            raise ValueError(f"unknown variant {bad[0]!r}; valid: {', '.join(gen.VARIANTS)}")
        cache = Path(settings.data_dir) / "generalise"
        dev = gen.load_pages(corpus, "CC-MAIN-DEV", cache)
        rows = [gen.check(dev, gen.VARIANTS[v], settings=settings, seed=seed, target=target) for v in names]
        if bench:
            pages = gen.load_pages(corpus, "CC-MAIN-BENCH", cache)
            for row in rows:
                row["bench"] = gen.bench_quality(dev, pages, gen.VARIANTS[row["variant"]], settings=settings, seed=seed)
    held = rows[0]["heldout_docs_hosts"] if rows else []
    table = Table("variant", "threshold", "held-out docs recall", "non-English docs", "manual code",
                  "manual non-code", "web FP", "precision [95% CI]", "F1",
                  title=f"held out: {rows[0]['heldout_hosts'] if rows else 0} hosts (docs: {', '.join(held)}) "
                        "and the hand-judged pages")  # fmt: skip
    for row in rows:
        for at in ("chosen", "0.5"):
            a = row["at"][at]
            table.add_row(row["variant"], str(a["threshold"]), f"{a['heldout_docs_recall']:.3f}",
                          f"{a['non_english_docs'][0]}/{a['non_english_docs'][1]}",
                          f"{a['manual_code_found'][0]}/{a['manual_code_found'][1]}",
                          f"{a['manual_noncode_kept'][0]}/{a['manual_noncode_kept'][1]}",
                          f"{a['web_false_positives'][0]}/{a['web_false_positives'][1]}",
                          f"{a['precision']:.3f} [{a['precision_ci'][0]:.3f}, {a['precision_ci'][1]:.3f}]",
                          f"{a['f1']:.3f}")  # fmt: skip
    _emit({"variants": rows}, as_json, table)


@round_app.command("run")
def round_run(
    number: Annotated[int, typer.Argument(help="Round number (created by `round start` or the API)")],
    processes: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run, resume or retry a round to the end here (the API's in-process runner). A failed round is retried:
    its failed WARC tasks run again, every finished one (and its model) is kept."""
    from webrecall.core.lifecycle.run import CANCEL_IS_FINAL, run
    from webrecall.core.queries import round_by_number

    settings = _ready()
    with _reasons():
        rnd = round_by_number(settings, number)
    if rnd.status in ("done", "cancelled"):
        _fail(CANCEL_IS_FINAL.format(number=number) if rnd.status == "cancelled" else f"round {number} is already done")
    if rnd.status == "failed":
        console.print(f"retrying round {number}, which failed: {rnd.error or 'no reason recorded'}")
    try:
        rnd = run(settings, rnd.id or 0, processes=processes)
    except (ValueError, WebrecallError) as exc:
        _fail(str(exc))
    _emit_round(settings, rnd, as_json)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API (uvicorn `webrecall.api.main:app`); refuses to start with the default token in production."""
    import os

    from pydantic import ValidationError

    try:
        settings = _settings()
    except ValidationError as exc:
        _fail("; ".join(str(e["msg"]) for e in exc.errors()))
    _data_dir(settings)
    with _reasons():
        dbm.ensure_schema(settings.db_url)  # before the workers fork: a clear message, not a crash in each
    argv = [sys.executable, "-m", "uvicorn", "webrecall.api.main:app", "--host", host, "--port", str(port),
            "--workers", str(workers), "--log-level", log_level]  # fmt: skip
    os.execvp(argv[0], argv)


@app.command()
def mirror(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Common-Crawl-shaped folder")],
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one)")] = 8765,
    index: Annotated[Path | None, typer.Option(
        exists=True, file_okay=False, help="Folder `webrecall index build` wrote, served as an overlay")] = None,
) -> None:
    """Serve a local folder as a Common Crawl source (crawl-data/<id>/warc.paths.gz, byte ranges) until stopped.

    With --index, also what `webrecall index build` wrote under the same URLs as on Common Crawl (the columnar
    index, the WET files and wet.paths.gz) and the CDX API (`/<crawl>-index?url=...&output=json`)."""
    from webrecall.mirror.server import Mirror

    mirror = Mirror(str(directory), host=host, port=port, index_dir=str(index) if index else None)
    console.print(f"serving {directory} at {mirror.url}")
    mirror.run()  # uvicorn, until SIGINT or SIGTERM


@index_app.command("build")
def index_build(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Common-Crawl-shaped folder")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where the index goes (the folder is only read)")],
    crawl: Annotated[list[str] | None, typer.Option(help="Crawl id (repeatable; default: every crawl)")] = None,
    row_group_rows: Annotated[int, typer.Option(min=1, help="Rows per Parquet row group")] = 50_000,
    languages: Annotated[bool, typer.Option(help="Detect content_languages (extracts each page's text)")] = True,
    wet: Annotated[bool, typer.Option(help="Also write each WARC file's WET file (plain text, Common Crawl's "
                                           "layout and rule) and wet.paths.gz; up-to-date ones are kept")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Write Common Crawl's columnar URL index (real schema, sorted by url_surtkey) for a local crawl folder, and its
    WET files. `webrecall mirror DIR --index OUTPUT` serves both under Common Crawl's URLs."""
    from webrecall.core.crawl.ccindex import build_index
    from webrecall.core.crawl.wetgen import build_wet

    with _reasons():
        data = build_index(directory, output, crawls=crawl or [], row_group_rows=row_group_rows, languages=languages)
        wets = build_wet(directory, output, crawls=crawl or None) if wet else {}
    for name, info in wets.items():
        data[name]["wet"] = info
    table = Table("crawl", "captures", "WARC files", "row groups", "WET files", title=f"index written to {output}")
    for name, info in data.items():
        table.add_row(name, str(info["captures"]), str(info["warc_files"]), str(info["row_groups"]),
                      str(info["wet"]["wet_files"]) if "wet" in info else "-")  # fmt: skip
    _emit(data, as_json, table)


@index_app.command("lookup")
def index_lookup(
    pattern: Annotated[list[str], typer.Argument(help="URL patterns (prefix, %, *)")],
    crawl: Annotated[str, typer.Option(help="Crawl id, e.g. CC-MAIN-2024-22")],
    base_url: Annotated[str | None, typer.Option(help="Columnar index base (default: WEBRECALL_INDEX_BASE_URL or the "
                                                      "source base URL)")] = None,
    backend: Annotated[str, typer.Option(help="columnar or cdx")] = "columnar",
    cdx_url: Annotated[str | None, typer.Option(help="CDX server (default: WEBRECALL_CDX_BASE_URL)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Count a pattern's HTML 200 captures across the whole crawl, and what the lookup read."""
    from webrecall.core.crawl.ccindex import lookup

    settings = _settings()
    if backend not in ("columnar", "cdx"):
        _fail(f"unknown backend {backend!r}; valid: columnar, cdx")
    index_base = base_url or settings.index_base_url or settings.source_base_url
    with _reasons():
        found, skipped, stats = lookup(
            pattern, crawl, backend="cdx" if backend == "cdx" else "columnar", index_base=index_base,
            cdx_base=cdx_url or settings.cdx_base_url, timeout=settings.http_timeout, retries=settings.http_retries,
        )  # fmt: skip
    data: dict[str, Any] = {"patterns": {p: {"captures": len(c), "warcs": len({x.warc for x in c}),
                             "record_bytes": sum(x.length for x in c)} for p, c in found.items()},
            "not_expandable": skipped, **stats.as_dict()}  # fmt: skip
    table = Table("pattern", "captures", "WARC files", "record bytes", title=f"{crawl}: {stats.as_dict()}")
    for p, info in data["patterns"].items():
        table.add_row(p, str(info["captures"]), str(info["warcs"]), str(info["record_bytes"]))
    for p, reason in skipped.items():
        table.add_row(p, reason, "", "")
    _emit(data, as_json, table)


@app.command()
def annotator(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8501,
) -> None:
    """Serve the annotators' Streamlit app (`streamlit run webrecall/annotator/server.py`: the app and its
    session-cookie routes)."""
    import os

    _ready()  # the schema is checked before the app starts
    script = Path(__file__).resolve().parents[1] / "annotator" / "server.py"
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
    from webrecall.core.labelling.accounts import create_account

    settings = _ready()
    with _reasons():
        with dbm.session(settings.db_url) as db:
            account = create_account(db, name, password, role)
    _emit({"name": account.name, "role": account.role, "status": "created"}, as_json, title="annotator account")


@app.command()
def demo(
    corpus: Annotated[Path, typer.Option(help="Local Common-Crawl-shaped folder")] = Path("../shared/corpus"),
    limit: Annotated[int | None, typer.Option(help="WARC files to read")] = None,
    output: Annotated[Path, typer.Option(help="Data dir of the demo (reset each run)")] = Path("data/demo"),
    scan: Annotated[str | None, typer.Option(help="wet, warc or auto (default: settings): the local crawl gets WET "
                                                  "files and a URL index beside the data dir")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The main job end to end on the embedded default; writes <output>/summary.json."""
    from webrecall.cli.demo import run_demo

    bar = _Bar(quiet=as_json)
    with _reasons():
        with bar.progress:
            summary = run_demo(corpus=corpus, limit=limit, output=output, progress=bar, scan=_scan(scan))
    from webrecall.cli.demo import summary_tables

    if as_json:
        _emit(summary, True)
    else:
        for table in summary_tables(summary):
            Console().print(table)
        console.print(f"summary written to {output / 'summary.json'}")


from webrecall.cli import queue as cli_queue  # noqa: E402,F401 - registers the annotation commands on the groups above

if __name__ == "__main__":
    app()
