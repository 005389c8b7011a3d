"""End-to-end benchmark: the plain pipeline, datatrove's and ours on CC-MAIN-BENCH, scored out-of-fold by two
CC-MAIN-DEV models; plus the fidelity of each extractor's text on DEV pages.

Run: .venv/bin/python bench/run.py [--repeat 2] [--corpus PATH]   (datatrove: pip install -e '.[bench]')
- baseline: warcio -> decode -> trafilatura on every HTML page -> fastText score (batches of 512) -> keep >= 0.5
- datatrove: its own pipeline with its defaults, WarcReader -> Trafilatura -> FastTextClassifierFilter -> JsonlWriter,
  on a plain fastText model (no BPE) trained on the same fold pages, as a datatrove user would
- ours: index_warc (fastwarc + resiliparse into the page cache) then recall_warc (score; the kept text is the
  cached text, nothing re-read); round 2 re-runs recall_warc from the cache alone.
  `--text-extractor trafilatura` runs ours as a trafilatura round instead (refetch + cascade, calibrated margin).
- raw read: fastwarc over every record, the floor no reader can beat.
- fidelity (untimed, cached): code blocks verbatim / present and template-line share per extractor on DEV pages.
Every BENCH page is also a DEV page, so DEV is split into 2 folds by sha1(host) % 2 and model A is trained on
fold 0, model B on fold 1. Ours uses the models a round trains (BPE + code signals, the defaults); the baseline
uses the same training on the text alone (its trafilatura text has no markup to count), datatrove a plain
fastText model of the same pages. Each timed pass loads and scores with model A only (as in production); model B scores
afterwards, untimed, and each page's kept decision is taken from the model that never saw its host.
Each runs in a fresh subprocess pinned to one core (best of --repeat); results go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from folds import (
    DEFAULT_CORPUS,
    FOLD_SCHEME,
    FOLDS,
    ROOT,
    SCORE_BATCH,
    THRESHOLD,
    ensure_models,
    host_fold,
    model_dirs,
    quality,
    read_labels,
    warc_files,
)  # fmt: skip
from pipelines import _pin, run_baseline, run_datatrove, run_ours, run_raw
from untimed import FIDELITY_EXTRACTORS, calibrate, fidelity
from wet import ensure_prefilters, run_wet

RESULTS = ROOT / "bench" / "results" / "latest.json"
ROWS = ("baseline", "datatrove", "ours", "wet", "raw")
STEPS = ("train", "prefilter", "calibrate", "fidelity", *ROWS)

def child(
    name: str, corpus: Path, models: tuple[Path, ...] | None, repeat: int, margin: float, text_extractor: str,
    base_models: tuple[Path, ...] | None = None,
) -> dict:  # fmt: skip
    """`models`: what a round trains (code signals on, the default), for ours; `base_models`: the same training on
    the text alone, for the plain baseline and datatrove (their trafilatura text has no markup to count)."""
    if name == "train":  # its own process too, so the parent stays small when it forks the others
        return {"models": [str(m) for m in (*ensure_models(corpus), *ensure_models(corpus, signals=False))]}
    if name == "calibrate":
        return calibrate(corpus, models or ensure_models(corpus))
    if name == "prefilter":  # the WET files, the URL index and the fold pre-filters (cached)
        return ensure_prefilters(corpus, models or ensure_models(corpus))
    if name == "fidelity":
        return fidelity(corpus)
    core = _pin()
    warc = warc_files(corpus, "CC-MAIN-BENCH")[0]
    if name == "raw":
        result = run_raw(warc, repeat)
    elif name == "baseline":
        result = run_baseline(warc, base_models or ensure_models(corpus, signals=False), repeat)
    elif name == "datatrove":
        result = run_datatrove(warc, base_models or ensure_models(corpus, signals=False), repeat)
    elif name == "wet":
        fold_models = models or ensure_models(corpus)
        result = run_wet(corpus, fold_models, ensure_prefilters(corpus, fold_models), repeat)
    else:
        result = run_ours(warc, models or ensure_models(corpus), repeat, margin, text_extractor)
    return {**result, "pinned_core": core}


# -- the parent: spawn, compare, print ---------------------------------------------------------------------------


def spawn(
    name: str, corpus: Path, models: tuple[tuple[Path, ...], tuple[Path, ...]], repeat: int, margin: float = 0.0,
    text_extractor: str = "resiliparse",
) -> dict:  # fmt: skip
    cmd = [sys.executable, __file__, "--only", name, "--json", "--corpus", str(corpus)]
    cmd += ["--models", *map(str, models[0]), "--base-models", *map(str, models[1])]
    cmd += ["--margin", str(margin), "--text-extractor", text_extractor]
    print(f"running {name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([*cmd, "--repeat", str(repeat)], capture_output=True, text=True, cwd=ROOT)
    sys.stderr.write("".join(line for line in proc.stderr.splitlines(True) if line.startswith("model:")))
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(rows: dict[str, dict], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    table = Table(title=f"CC-MAIN-BENCH, one core per pipeline, best of {summary['repeat']}")
    for col in ("", "pages", "seconds", "pages/s per core", "x baseline", "peak RSS MB", "RSS, model A loaded MB"):
        table.add_column(col, justify="left" if not col else "right")
    for col in ("F1 (OOF)", "precision", "recall", "kept"):
        table.add_column(col, justify="right")
    base_rate = rows["baseline"]["per_core"]
    labels = (("baseline", "baseline (warcio+trafilatura)"), ("datatrove", "datatrove (its pipeline)"),
              ("ours", f"ours, WARC scan ({summary['text_extractor']} kept text)"),
              ("wet", "ours, WET-first (pre-filter, then the HTML of candidates)"),
              ("raw", "raw read (records/s)"))  # fmt: skip
    for name, label in labels:
        if name not in rows:
            table.add_row(label, "not installed: pip install -e '.[bench]'")
            continue
        row = rows[name]
        table.add_row(
            label, str(row["pages"]), num(row["seconds"], ".2f"), num(row["per_core"], ",.1f"),
            num(row["per_core"] / base_rate, ".1f"), num(row["peak_rss_mb"], ".0f"),
            num(row.get("rss_model_mb"), ".0f"),
            num(row.get("f1"), ".3f"), num(row.get("precision"), ".3f"), num(row.get("recall"), ".3f"),
            num(row.get("kept"), "d"),
        )  # fmt: skip
    console = Console(width=max(Console().width, 132))
    console.print(table)
    fid = summary["fidelity"]
    ftable = Table(
        title=f"Fidelity on CC-MAIN-DEV: {fid['code_pages']} code pages with indented <pre> blocks; "
        f"template lines on {fid['template_pages']} docs pages of {len(fid['template_sites'])} sites"
    )
    for col in ("extractor", "blocks", "verbatim", "present", "template lines", "chars/page", "ms/page"):
        ftable.add_column(col, justify="left" if col == "extractor" else "right")
    for name in FIDELITY_EXTRACTORS:
        f = fid[name]
        ftable.add_row(
            name,
            str(f["blocks"]),
            f"{f['verbatim']:.1%}",
            f"{f['present']:.1%}",
            f"{f['template_share']:.2%}",
            f"{f['chars_per_page']:,.0f}",
            f"{f['ms_per_page']:.1f}",
        )
    console.print(ftable)
    agree, ours = summary["agreement"], rows["ours"]
    r1, r2 = ours["stats"]["recall"], ours["round2_stats"]
    dt = summary["ratio_ours_vs_datatrove"]
    blocks = r1.get("kept_code_blocks", 0)
    console.print(
        f"ours/baseline pages/s: [bold]{summary['ratio_ours_vs_baseline']:.1f}x[/]   ours/datatrove: "
        f"[bold]{num(dt, '.1f')}x[/]   ours index {ours['index_seconds']:.2f}s + recall {ours['recall_seconds']:.2f}s\n"
        f"ours' kept pages (round 1, model A): {r1.get('kept', 0)}, their indented <pre> blocks {blocks}, verbatim "
        f"{r1.get('kept_code_verbatim', 0) / max(blocks, 1):.1%}, "
        f"present {r1.get('kept_code_present', 0) / max(blocks, 1):.1%}"
        f"; range reads {r1.get('range_reads', 0)}\n"
        f"round 2 (recall_warc from the cache): {summary['round2_seconds']:.2f}s, "
        f"[bold]{summary['round2_speedup']:.1f}x[/] faster than round 1 (same model A, so its tokenizer: "
        f"token cache hit {r2.get('token_cache_hit', 0)}, {r2.get('text_reused', 0)} kept texts reused, "
        f"{r2.get('range_reads', 0)} range reads, {r2.get('cascade_rescored', 0)} cascade re-scored)\n"
        f"agreement |ours ∩ base| / |base| = {agree['ours_in_base']:.3f} "
        f"({agree['base_kept']} base, {agree['ours_kept']} ours, {agree['ours_only']} ours only)\n"
        f"baseline's kept code pages also kept by ours: [bold]{agree['base_code_kept_by_ours_n']} of "
        f"{agree['base_code']}[/] ({agree['base_code_kept_by_ours']:.1%}); labelled code pages kept by one only: "
        f"{len(agree['code_base_only_urls'])} base only, {len(agree['code_ours_only_urls'])} ours only"
    )
    for lost in agree["lost_code_pages"]:
        b, o = lost["baseline"], lost["ours"] or {}
        console.print(
            f"  lost: {lost['url']}  baseline score {b['score']:.3f} on {b['text_len']:,} chars of "
            f"trafilatura text; ours {o.get('score', float('nan')):.3f} on {o.get('text_len', 0):,} chars"
        )
    cal = summary["calibration"]
    cascade = (f"cascade margin {cal['margin_used']} (calibrated {cal['margin']} on {cal['pages']} held-out DEV pages)"
               if "margin" in cal else "no cascade (the kept text is the cached text)")  # fmt: skip
    load = summary["load"]
    console.print(
        f"out-of-fold: {summary['train_bench_overlap']} of {summary['bench_pages']} BENCH urls are DEV pages; "
        f"model A (fold 0) is timed, model B (fold 1) scores untimed; a fold-0 page is judged by B, a fold-1 page "
        f"by A ({FOLD_SCHEME}; BENCH pages per fold {summary['bench_per_fold']}), in every pipeline, so "
        f"F1/precision/recall are held out by host; peak RSS is measured before model B is loaded\n"
        f"{cascade}\n"
        f"machine load (1-min loadavg) {load['loadavg_1m_before']:.1f} before, {load['loadavg_1m_after']:.1f} after, "
        f"on {os.cpu_count()} cores: pages/s are comparable within one run only"
    )
    if "wet" in rows:
        w, b = rows["wet"], rows["wet"]["bytes"]
        console.print(
            f"WET-first: [bold]{summary['ratio_wet_vs_baseline']:.1f}x[/] the baseline, "
            f"[bold]{num(summary['ratio_wet_vs_datatrove'], '.1f')}x[/] datatrove, "
            f"{summary['ratio_wet_vs_warc_scan']:.1f}x the WARC scan; candidates {w['candidate_share']:.1%} "
            f"(view {w['view']}, floors {w['floors'][0]:.4f}/{w['floors'][1]:.4f}); keeps "
            f"{summary['wet_kept_share_of_warc']:.1%} of the WARC scan's kept pages; F1 {summary['wet_f1']:.3f} "
            f"(WARC scan {summary['warc_scan_f1']:.3f}); code blocks verbatim "
            f"{num(summary['wet_code_verbatim'], '.1%')}"
            f"\nbytes read {b['total']:,} = {summary['wet_bytes_share']:.1%} of the WARC file ({b['wet']:,} WET, "
            f"{b['ranges']:,} record ranges, {b['index']:,} index); round 2 {summary['wet_round2']}"
        )
        for lost in summary["wet_lost_pages"]:
            console.print(f"  lost by WET-first: {lost['url']}: {lost['reason']}")
    console.print(f"written {RESULTS.relative_to(ROOT)}")


def wet_vs_warc(rows: dict[str, dict]) -> dict:
    """The WET-first row against the WARC scan (the same fold models decide both): speed, bytes, the WARC scan's
    kept pages it keeps (and why it lost any), F1, code blocks."""
    wet, warc = rows["wet"], rows["ours"]
    kept_warc, kept_wet = set(warc["kept_urls"]), set(wet["kept_urls"])
    lost = []
    for url in sorted(kept_warc - kept_wet):
        candidate = wet["candidates_oof"].get(url)
        reason = ("under the pre-filter's floor (never fetched)" if candidate is False else
                  "not in the URL index or not fetched" if candidate is None else "the model's score on the "
                  "fetched page differs")  # fmt: skip
        lost.append({"url": url, "reason": reason, "warc_scan": warc["oof_scores"].get(url),
                     "wet": wet["oof_scores"].get(url)})  # fmt: skip
    r1 = wet["stats"]["recall"]
    blocks = r1.get("kept_code_blocks", 0)
    return {
        "ratio_wet_vs_baseline": wet["per_core"] / rows["baseline"]["per_core"],
        "ratio_wet_vs_datatrove": wet["per_core"] / rows["datatrove"]["per_core"] if "datatrove" in rows else None,
        "ratio_wet_vs_warc_scan": wet["per_core"] / warc["per_core"],
        "wet_kept_share_of_warc": len(kept_warc & kept_wet) / len(kept_warc) if kept_warc else 1.0,
        "wet_bytes_share": wet["bytes"]["total"] / wet["bytes"]["warc_file"],
        "wet_f1": wet["f1"], "warc_scan_f1": warc["f1"],
        "wet_candidate_share": wet["candidate_share"],
        "wet_code_verbatim": r1.get("kept_code_verbatim", 0) / blocks if blocks else None,
        "wet_lost_pages": lost, "wet_only_urls": sorted(kept_wet - kept_warc),
        "wet_round2": {"seconds": wet["round2_seconds"], "range_reads": wet["round2_stats"].get("range_reads", 0),
                       "lookups": wet["round2_stats"].get("lookups", 0),
                       "fetch_reused": wet["round2_stats"].get("fetch_reused", 0)},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per pipeline; the best time counts")
    parser.add_argument("--only", choices=STEPS, help="run one pipeline in this process (used by the parent)")
    parser.add_argument("--json", action="store_true", help="with --only: print the result as one JSON line")
    parser.add_argument(
        "--models", type=Path, nargs=FOLDS, help="ours' fold model directories (default: train or reuse bench/.cache)"
    )
    parser.add_argument("--base-models", type=Path, nargs=FOLDS, help="the baseline's and datatrove's (text only)")
    parser.add_argument("--margin", type=float, default=None, help="cascade margin (default: calibrated)")
    parser.add_argument("--text-extractor", default="resiliparse", choices=("resiliparse", "trafilatura"),
                        help="ours' kept text: cached (default) or trafilatura (refetch + cascade)")  # fmt: skip
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    if not warc_files(corpus, "CC-MAIN-BENCH"):
        sys.exit(f"no CC-MAIN-BENCH WARC under {corpus}")
    if args.only:
        margin = args.margin if args.margin is not None else 0.0
        models_arg = tuple(args.models) if args.models else None
        base_arg = tuple(args.base_models) if args.base_models else None
        result = child(args.only, corpus, models_arg, args.repeat, margin, args.text_extractor, base_arg)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return

    models = (model_dirs(corpus), model_dirs(corpus, signals=False))
    spawn("train", corpus, models, 1)  # a no-op when bench/.cache already holds these models
    calibration: dict = {}
    margin = 0.0
    if args.text_extractor != "resiliparse":  # the cascade exists only for a kept text that is not the cached one
        calibration = spawn("calibrate", corpus, models, 1)  # cached beside the models
        margin = args.margin if args.margin is not None else calibration["margin"]
    fid = spawn("fidelity", corpus, models, 1)  # cached: re-measured only when the extraction code changes
    spawn("prefilter", corpus, models, 1)  # cached: WET files, URL index and fold pre-filters
    rows = {name: spawn(name, corpus, models, args.repeat, margin, args.text_extractor)
            for name in ROWS}  # sequential, never concurrent  # fmt: skip
    rows = {name: row for name, row in rows.items() if "skipped" not in row}
    labels = read_labels(corpus, "CC-MAIN-BENCH")
    for name in ("baseline", "datatrove", "ours", "wet"):
        if name in rows:
            rows[name].update(quality(rows[name]["kept_urls"], labels))
    for row in rows.values():
        row["per_core"] = row["pages"] / row["seconds"]
    base, ours = set(rows["baseline"]["kept_urls"]), set(rows["ours"]["kept_urls"])
    base_code = {u for u in base if labels.get(u)}
    code = {u for u, is_code in labels.items() if is_code}
    lost = sorted((base_code - ours), key=lambda u: -rows["baseline"]["oof_scores"][u]["score"])
    agreement = {
        "ours_in_base": len(ours & base) / len(base) if base else 1.0,
        "base_code_kept_by_ours": len(ours & base_code) / len(base_code) if base_code else 1.0,
        "base_kept": len(base), "ours_kept": len(ours), "base_code": len(base_code), "ours_only": len(ours - base),
        "base_code_kept_by_ours_n": len(ours & base_code),
        "base_only_urls": sorted(base - ours), "ours_only_urls": sorted(ours - base),
        "code_base_only_urls": sorted((base - ours) & code), "code_ours_only_urls": sorted((ours - base) & code),
        # why a baseline code page is lost: its out-of-fold score and text length in each pipeline
        "lost_code_pages": [{"url": u, "baseline": rows["baseline"]["oof_scores"][u],
                             "ours": rows["ours"]["oof_scores"].get(u)} for u in lost],
    }  # fmt: skip
    wet_summary = wet_vs_warc(rows)
    for name in ("baseline", "ours", "wet"):
        rows[name].pop("oof_scores")
    summary = {
        "repeat": args.repeat,
        "ratio_ours_vs_baseline": rows["ours"]["per_core"] / rows["baseline"]["per_core"],
        "ratio_ours_vs_datatrove": (rows["ours"]["per_core"] / rows["datatrove"]["per_core"]
                                    if "datatrove" in rows else None),  # fmt: skip
        **wet_summary,
        "round2_seconds": rows["ours"]["round2_seconds"],
        "round2_speedup": rows["ours"]["seconds"] / rows["ours"]["round2_seconds"],
        "agreement": agreement,
        "train_bench_overlap": len(labels.keys() & read_labels(corpus, "CC-MAIN-DEV").keys()),
        "bench_pages": len(labels),
        "bench_per_fold": [sum(host_fold(u) == k for u in labels) for k in range(FOLDS)],
        "folds": FOLD_SCHEME, "text_extractor": args.text_extractor, "fidelity": fid,
        "load": {"loadavg_1m_before": LOAD_BEFORE, "loadavg_1m_after": os.getloadavg()[0]},
        "calibration": ({k: v for k, v in calibration.items() if k != "curve"} | {"margin_used": margin}
                        if calibration else {"margin_used": 0.0}),
        "calibration_curve": calibration.get("curve", []),
    }  # fmt: skip
    metas = [{"dir": str(m), "used_by": "ours" if k == 0 else "baseline, datatrove",
              **json.loads((m / "meta.json").read_text(encoding="utf-8"))}
             for k, pair in enumerate(models) for m in pair]  # fmt: skip
    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "corpus": str(corpus),
        "warc": warc_files(corpus, "CC-MAIN-BENCH")[0], "threshold": THRESHOLD, "score_batch": SCORE_BATCH,
        "models": metas, "rows": rows, **summary,
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)
    report(rows, summary)


LOAD_BEFORE = os.getloadavg()[0]

if __name__ == "__main__":
    main()
