"""Label efficiency on CC-MAIN-DEV: what page labels a round buy on hosts no model trains on.

    .venv/bin/python bench/label_efficiency.py --quick    # 0 and 50 page labels a round
    .venv/bin/python bench/label_efficiency.py            # 0, 25, 50 and 100

The loop as the demo runs it (3 rounds, seeded with two English documentation sites, a scripted annotator working
the real queue between rounds: domain items by the majority label of their pages, page items by the page's label),
with the page items capped at N a round (`WEBRECALL_PAGE_ITEMS_MAX`). Held out of everything (the rounds'
`holdout_labels`: no seed, negative, queue item or vote): the hosts in the first 0.2 of the plain host hash and every
host with a hand-judged (`kind: manual`) page. Reported per round against the page labels given so far: the
held-out manual code pages found (of 18), the recall of the held-out non-English documentation, and the precision
over all held-out pages with its 95% Wilson lower bound. Writes bench/results/label_efficiency.json and
docs/img/label-efficiency.png. Not timed: run it anywhere.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webrecall.cli.demo import (  # noqa: E402
    DEMO_CRAWL,
    DEMO_SEEDS,
    holdout_hosts,
    read_truth,
    scripted_annotation,
    write_holdout,
)
from webrecall.core import db as dbm  # noqa: E402
from webrecall.core import labelfile, totals  # noqa: E402
from webrecall.core.lifecycle.local import run_round  # noqa: E402
from webrecall.core.lifecycle.spec import RoundSpec, start_round  # noqa: E402
from webrecall.core.model.thresholds import wilson  # noqa: E402
from webrecall.core.pipeline.partials import round_index  # noqa: E402
from webrecall.core.queries import done_warcs  # noqa: E402
from webrecall.core.settings import Settings  # noqa: E402
from webrecall.core.storage.store import Store  # noqa: E402
from webrecall.core.urls.patterns import url_key  # noqa: E402
from webrecall.mirror.server import serve  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "label_efficiency.json"
PLOT = ROOT / "docs" / "img" / "label-efficiency.png"
FRACTION = 0.2
KINDS = ("manual",)
TARGETS = {"manual_code_found": 16, "non_english_docs_recall": 0.9, "precision_lb": 0.97}


def measure(settings: Settings, rnd: dbm.Round, held: list[labelfile.LabeledUrl]) -> dict[str, Any]:
    """The round's kept set on the held-out pages."""
    with dbm.session(settings.db_url) as db:
        locations = done_warcs(db, rnd.id or 0)
    index = round_index(Store(settings.data_dir), rnd.number, locations, columns=["url", "kept"]).to_pydict()
    kept = {url_key(u): bool(k) for u, k in zip(index["url"], index["kept"], strict=True)}
    rows = [r for r in held if r.key in kept]

    def found(pick: Any) -> tuple[int, int]:
        chosen = [r for r in rows if pick(r)]
        return sum(kept[r.key] for r in chosen), len(chosen)

    manual = found(lambda r: r.kind == "manual" and r.code)
    other = found(lambda r: r.kind == "docs" and r.code and r.lang not in ("en", None))
    docs = found(lambda r: r.kind == "docs" and r.code)
    tp, positives = found(lambda r: r.code)
    fp = sum(kept[r.key] for r in rows if not r.code)
    lo, hi = wilson(tp, tp + fp)
    t = totals.of(rnd)
    point = t.model.operating_point if t.model and t.model.operating_point else None
    return {"round": rnd.number, "threshold": rnd.threshold, "threshold_rule": point.rule if point else None,
            "manual_code_found": manual[0], "manual_code": manual[1],
            "non_english_docs_found": other[0], "non_english_docs": other[1],
            "non_english_docs_recall": round(other[0] / other[1], 4) if other[1] else None,
            "non_english_docs_ci": [round(x, 4) for x in wilson(*other)],
            "docs_recall": round(docs[0] / docs[1], 4) if docs[1] else None,
            "recall": round(tp / positives, 4) if positives else None, "tp": tp, "fp": fp,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None, "precision_lb": round(lo, 4),
            "precision_ci": [round(lo, 4), round(hi, 4)], "held_out_pages": len(rows)}  # fmt: skip


def run(budget: int, *, corpus: Path, work: Path, rounds: int, processes: int) -> dict[str, Any]:
    """The loop with at most `budget` page items a round; a fresh data dir."""
    out_dir = work / f"budget-{budget}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    labels = corpus / "labels" / f"{DEMO_CRAWL}.jsonl"
    holdout = write_holdout(labels, out_dir, fraction=FRACTION, kinds=KINDS)
    held = labelfile.read(holdout)
    truth = read_truth(labels)  # the annotator skips the round's held-out pages itself
    settings = Settings(data_dir=str(out_dir / "data"), database_url="", text_extractor="resiliparse",
                        page_items_max=budget, scan="warc")  # fmt: skip
    dbm.migrate(settings.db_url)
    server, base_url = serve(str(corpus))
    per_round: list[dict[str, Any]] = []
    page_labels = labels_given = 0
    try:
        for n in range(1, rounds + 1):
            spec = RoundSpec(crawl_id=DEMO_CRAWL, base_url=base_url, seed_patterns=list(DEMO_SEEDS),
                             holdout_labels=str(holdout))  # fmt: skip
            rnd = run_round(settings, start_round(settings, spec).id or 0, processes=processes)
            if rnd.status != "done":
                raise RuntimeError(f"budget {budget}: round {n} is {rnd.status}: {rnd.error}")
            per_round.append({**measure(settings, rnd, held), "page_labels_before": page_labels,
                              "labels_before": labels_given})  # fmt: skip
            print(json.dumps({"budget": budget, **per_round[-1]}), flush=True)
            if n < rounds:
                done = scripted_annotation(settings, rnd.id or 0, truth)
                page_labels += done.get("page_items", 0)
                labels_given += done.get("labels", 0)
    finally:
        server.shutdown()
    return {"page_items_max": budget, "rounds": per_round, "page_labels": page_labels, "labels": labels_given,
            "holdout_hosts": len(holdout_hosts(holdout))}  # fmt: skip


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results["runs"].values(), key=lambda r: r["page_items_max"])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = [("manual_code_found", "held-out manual code pages found (of 18)", TARGETS["manual_code_found"]),
              ("non_english_docs_recall", "recall, held-out non-English docs", TARGETS["non_english_docs_recall"]),
              ("precision_lb", "precision, 95% Wilson lower bound", TARGETS["precision_lb"])]  # fmt: skip
    rounds = max(len(r["rounds"]) for r in runs)
    for ax, (key, title, target) in zip(axes, panels, strict=True):
        for k in range(rounds):
            xs = [r["page_items_max"] for r in runs if len(r["rounds"]) > k]
            ys = [r["rounds"][k][key] or 0 for r in runs if len(r["rounds"]) > k]
            ax.plot(xs, ys, marker="o", label=f"round {k + 1}")
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("page labels a round (budget)")
        ax.set_xticks([r["page_items_max"] for r in runs])
    axes[0].legend(fontsize=8)
    fig.suptitle("CC-MAIN-DEV, held-out hosts, seeded with English documentation", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--budget", type=int, action="append", help="page labels a round (repeatable)")
    ap.add_argument("--quick", action="store_true", help="budgets 0 and 50 only")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--work", type=Path, help="keep the rounds' data here (default: a temporary directory)")
    args = ap.parse_args()
    budgets = args.budget or ([0, 50] if args.quick else [0, 25, 50, 100])
    work = args.work or Path(tempfile.mkdtemp(prefix="webrecall-label-efficiency-"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("runs", {})
    for budget in budgets:
        start = time.perf_counter()
        got = run(budget, corpus=args.corpus, work=work, rounds=args.rounds, processes=args.processes)
        got["seconds"] = round(time.perf_counter() - start, 1)
        results["runs"][str(budget)] = got
        results.update(seeds=list(DEMO_SEEDS), holdout={"fraction": FRACTION, "kinds": list(KINDS)},
                       targets=TARGETS, measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))  # fmt: skip
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")
    plot(results, PLOT)
    print("| page labels a round | round | labels so far (page) | manual code found | non-English docs recall "
          "| precision [95% CI] | threshold |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(results["runs"].values(), key=lambda r: r["page_items_max"]):
        for x in r["rounds"]:
            print(f"| {r['page_items_max']} | {x['round']} | {x['labels_before']} ({x['page_labels_before']}) "
                  f"| {x['manual_code_found']}/{x['manual_code']} "
                  f"| {x['non_english_docs_recall']} ({x['non_english_docs_found']}/{x['non_english_docs']}) "
                  f"| {x['precision']} [{x['precision_ci'][0]}, {x['precision_ci'][1]}] | {x['threshold']} |")


if __name__ == "__main__":
    main()
