"""The generalisation check on CC-MAIN-DEV, and CC-MAIN-BENCH F1, for each input variant.

    .venv/bin/python bench/generalise.py [--variant today --variant signals ...] [--seed 0] [--no-bench]

A slice of the hosts (by the plain host hash) and every hand-judged page held out; positives from the other hosts'
documentation, negatives from their general pages; threshold chosen on held-out seeds for a target precision; see
core/evaluation/generalise.py. Writes bench/results/generalise.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webrecall.core.evaluation.generalise import VARIANTS, bench_quality, check, load_pages  # noqa: E402
from webrecall.core.settings import Settings  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results" / "generalise.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args()
    settings = Settings()

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    dev = load_pages(args.corpus, "CC-MAIN-DEV", CACHE)
    bench = [] if args.no_bench else load_pages(args.corpus, "CC-MAIN-BENCH", CACHE)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.variant or list(VARIANTS):
        for seed in args.seed or [0]:
            got = check(dev, VARIANTS[name], settings=settings, seed=seed, target=args.target, log=log)
            if bench:
                got["bench"] = bench_quality(dev, bench, VARIANTS[name], settings=settings, seed=seed, log=log)
            results[f"{name}/seed{seed}"] = got
            print(json.dumps(got), flush=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print("| variant | threshold (held-out seeds: tp/fp) | held-out docs recall | non-English docs | manual code "
          "| manual non-code | web FP | precision | F1 | BENCH P / F1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, r in results.items():
        for at in ("chosen", "0.5"):
            a, c = r["at"][at], r["calibration"]
            cal = f"{a['threshold']} ({c['tp']}/{c['fp']})" if at == "chosen" else "0.5"
            b = r.get("bench") or {}
            other = a.get("non_english_docs", ["", ""])
            print(f"| {key} | {cal} | {a['heldout_docs_recall']} ({a['heldout_docs'][0]}/{a['heldout_docs'][1]}) "
                  f"| {other[0]}/{other[1]} | {a['manual_code_found'][0]}/18 | {a['manual_noncode_kept'][0]}/17 "
                  f"| {a['web_false_positives'][0]}/{a['web_false_positives'][1]} | {a['precision']} "
                  f"{a['precision_ci']} | {a['f1']} | {b.get('precision', '')} / {b.get('f1', '')} |")


if __name__ == "__main__":
    main()
