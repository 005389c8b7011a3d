"""Where ours' time goes, stage by stage, and what the cheaper loops would cost: the measure behind the 10x target.

Every stage runs over all CC-MAIN-BENCH pages before the next one starts, with the functions the index and recall
passes call (`iter_pages`, `parse`, `html_signals`, `tree_text`, the model's BPE tokenizer, `line_stats`,
`score_lines`), pinned to one core, best of `--repeat`. Three text variants go through the same BPE, line shapes
and fastText: the main content (ours: the cached and kept text), the whole page without the main-content step
(`extract_plain_text(main_content=False)`) and the body's bare text (no layout at all). A loop is the sum of its
stages; `x ours' loop` compares it with ours' loop in the same sitting (the figure that holds on a noisy machine), and
`x baseline` divides the plain baseline's ms per page in `bench/results/latest.json` (the last `run.py`, another
sitting) by the loop's: the best ratio that loop could reach if nothing but its stages cost anything.

    .venv/bin/python bench/stages.py [--repeat 3]      # writes bench/results/stages.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from folds import DEFAULT_CORPUS, ROOT, ensure_models, load_model, warc_files
from pipelines import _pin
from rich.console import Console
from rich.table import Table

RESULTS = ROOT / "bench" / "results"

LOOPS = {
    "ours: main content + code signals + line shapes": (
        "read", "parse", "signals", "text main", "bpe main", "shapes main", "fasttext main"),
    "whole page instead of main content": (
        "read", "parse", "signals", "text page", "bpe page", "shapes page", "fasttext page"),
    "bare body text, no signals, no shapes": ("read", "parse", "text body", "bpe body", "fasttext body"),
}  # fmt: skip


def measure(warc: str, model_dir: Path, repeat: int) -> tuple[int, dict[str, float]]:
    """Seconds per stage over the whole WARC (the best of `repeat` runs of each)."""
    from resiliparse.extract.html2text import extract_plain_text

    from webrecall.core.crawl.warc import iter_pages
    from webrecall.core.page import Stats
    from webrecall.core.text.extract import has_pre, parse, tree_text
    from webrecall.core.text.features import html_signals, line_stats, with_signals

    clf = load_model(model_dir)
    best: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args)
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
        return out

    def read() -> list:
        with open(warc, "rb") as stream:
            return list(iter_pages(stream, warc_path=warc, stats=Stats()))

    def page_text(trees: list) -> list[str]:
        return [extract_plain_text(t, main_content=False, preserve_formatting=True, noscript=False) for t in trees]

    def body_text(trees: list) -> list[str]:
        return [(t.body.text or "") if t.body else "" for t in trees]

    def main_text(trees: list, pages: list) -> list[str]:  # fences the tree's <pre> blocks in place: run it last
        return [tree_text(t, fences=has_pre(p.html)) for t, p in zip(trees, pages, strict=True)]

    pages: list = []
    for _ in range(repeat):
        pages = timed("read", read)
        trees = timed("parse", lambda ps: [parse(p.html) for p in ps], pages)
        signals = timed("signals", lambda ts: [html_signals(t) for t in ts], trees)
        texts = {"page": timed("text page", page_text, trees), "body": timed("text body", body_text, trees),
                 "main": timed("text main", main_text, trees, pages)}  # fmt: skip
        for kind, batch in texts.items():
            timed(f"bpe {kind}", clf.tokenizer.pretokenize, batch)
            timed(f"shapes {kind}", lambda b: [line_stats(x) for x in b], batch)
            if kind == "body":  # as a text-only model reads it
                lines = clf.tokenizer.pretokenize(batch)
            else:
                lines = clf.tokenize([with_signals(x, sig) for sig, x in zip(signals, batch, strict=True)])
            timed(f"fasttext {kind}", clf.score_lines, lines)
    return len(pages), best


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    warc = warc_files(corpus, "CC-MAIN-BENCH")[0]
    model_dir = ensure_models(corpus)[0]
    _pin()
    n, seconds = measure(warc, model_dir, args.repeat)
    ms = {k: 1000 * v / n for k, v in seconds.items()}
    latest = RESULTS / "latest.json"
    run = json.loads(latest.read_text()) if latest.exists() else {}
    rows = run.get("rows", {})
    per_page = {k: 1000 * r["seconds"] / r["pages"] for k, r in rows.items() if k in ("baseline", "ours")}
    loops = {name: sum(ms[s] for s in parts) for name, parts in LOOPS.items()}

    console = Console(width=110)
    table = Table(title=f"CC-MAIN-BENCH, {n} pages, one core, best of {args.repeat}: ms per page")
    table.add_column("stage")
    table.add_column("ms/page", justify="right")
    for k, v in ms.items():
        table.add_row(k, f"{v:.3f}")
    console.print(table)
    loop_table = Table(title="loops: the sum of their stages")
    loop_table.add_column("loop")
    loop_table.add_column("ms/page", justify="right")
    loop_table.add_column("x ours' loop", justify="right")
    loop_table.add_column("x baseline (at best)", justify="right")
    ours_loop = loops[next(iter(LOOPS))]
    for name, v in loops.items():
        ratio = per_page["baseline"] / v if "baseline" in per_page else None
        loop_table.add_row(name, f"{v:.2f}", f"{ours_loop / v:.2f}", f"{ratio:.1f}" if ratio else "-")
    console.print(loop_table)
    if "baseline" in per_page:
        load = run.get("load", {}).get("loadavg_1m_before", 0.0)
        got = ", ".join(f"{k} {v:.2f} ms/page" for k, v in per_page.items())
        need = per_page["ours"] / (per_page["baseline"] / 10) if "ours" in per_page else float("nan")
        console.print(f"latest run.py (load {load:.1f} before it): {got}; 10x needs {per_page['baseline'] / 10:.2f} "
                      f"ms/page, i.e. ours {need:.2f}x faster")  # fmt: skip
    out = {"pages": n, "repeat": args.repeat, "ms_per_page": _rounded(ms), "loops_ms_per_page": _rounded(loops),
           "latest_run_ms_per_page": _rounded(per_page), "date": time.strftime("%Y-%m-%d"),
           "load_after": round(os.getloadavg()[0], 2)}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stages.json").write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"written {(RESULTS / 'stages.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
