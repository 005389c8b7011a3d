"""The second scoring stage, out of fold on CC-MAIN-DEV split by host: fastText alone against fastText + the second
stage (core/model/second_stage.py), the same models, the same threshold (0.5).

    .venv/bin/python bench/second_stage.py [--folds 2] [--seed 0]

Each host fold is scored by the models trained on the other folds' pages (a round's fastText with code signals,
then its second stage trained on the same pages), so no page judges a model that saw its site. Pooled over the
folds: precision and recall with Wilson intervals, F1 with a host-bootstrap interval, and the code pages found per
kind (docs / manual) and false positives per kind; the false-positive rate on the non-code pages with its Wilson
interval, and precision and F1 projected to a crawl where 3% of the pages are code (CC-MAIN-BENCH's share; DEV is
two-thirds code, so its own precision hides what a false-positive rate costs at crawl scale); and the
threshold-free average precision and ROC AUC. Quality only: the machine is shared, so no timings are reported.
Writes bench/results/second_stage.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webrecall.core.evaluation.generalise import load_pages  # noqa: E402
from webrecall.core.model import second_stage  # noqa: E402
from webrecall.core.model.classifier import Classifier  # noqa: E402
from webrecall.core.model.scoring import precision_recall_f1  # noqa: E402
from webrecall.core.model.thresholds import wilson  # noqa: E402
from webrecall.core.settings import Settings  # noqa: E402
from webrecall.core.text.features import spec  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results" / "second_stage.json"
THRESHOLD = 0.5
CRAWL_CODE_SHARE = 0.03
"""The code share of a realistic crawl (CC-MAIN-BENCH's) at which precision and F1 are projected."""


def fold_of(host: str, folds: int) -> int:
    return int.from_bytes(hashlib.sha1(f"second-stage:{host}".encode()).digest()[:8], "big") % folds


def figures(scores: np.ndarray, rows: list[dict], *, seed: int, resamples: int = 1000) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    pred = scores >= THRESHOLD
    y = np.asarray([r["code"] for r in rows], dtype=bool)
    tp, fp, fn = int(np.sum(pred & y)), int(np.sum(pred & ~y)), int(np.sum(~pred & y))
    negatives = int(np.sum(~y))
    fp_rate = fp / negatives
    # at a code share s: precision = s R / (s R + (1 - s) FPR)
    kept_code, kept_other = CRAWL_CODE_SHARE * tp / (tp + fn), (1 - CRAWL_CODE_SHARE) * fp_rate
    crawl_precision = kept_code / (kept_code + kept_other) if kept_code + kept_other else 0.0
    crawl_recall = tp / (tp + fn)
    crawl_f1 = 2 * crawl_precision * crawl_recall / (crawl_precision + crawl_recall) if crawl_precision else 0.0
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    hosts: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        hosts.setdefault(r["host"], []).append(i)
    groups = list(hosts.values())
    rng = random.Random(seed)
    boot = []
    for _ in range(resamples):  # resample whole hosts: pages of one site are not independent
        idx = np.concatenate([groups[rng.randrange(len(groups))] for _ in groups])
        p, t = pred[idx], y[idx]
        boot.append(precision_recall_f1(int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t)))[2])
    kinds = {}
    for kind in sorted({r["kind"] for r in rows}):
        k = np.asarray([r["kind"] == kind for r in rows])
        kinds[kind] = {"code_found": int(np.sum(pred & y & k)), "code": int(np.sum(y & k)),
                       "false_positives": int(np.sum(pred & ~y & k)), "other": int(np.sum(~y & k))}  # fmt: skip
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4),
            "precision_ci": [round(x, 4) for x in wilson(tp, tp + fp)], "recall": round(recall, 4),
            "recall_ci": [round(x, 4) for x in wilson(tp, tp + fn)], "f1": round(f1, 4),
            "f1_ci": [round(float(x), 4) for x in np.percentile(boot, [2.5, 97.5])],
            "fp_rate": round(fp_rate, 4), "fp_rate_ci": [round(x, 4) for x in wilson(fp, negatives)],
            f"precision_at_{CRAWL_CODE_SHARE:g}_code": round(crawl_precision, 4),
            f"f1_at_{CRAWL_CODE_SHARE:g}_code": round(crawl_f1, 4),
            "average_precision": round(float(average_precision_score(y, scores)), 4),
            "roc_auc": round(float(roc_auc_score(y, scores)), 4), "by_kind": kinds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    settings = Settings()

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    rows = load_pages(args.corpus, "CC-MAIN-DEV", CACHE)
    fold = [fold_of(r["host"], args.folds) for r in rows]
    first = np.zeros(len(rows), dtype=np.float32)
    second = np.zeros(len(rows), dtype=np.float32)
    trained = []
    signals = spec(settings.code_signal_repeat) if settings.code_signal_repeat else None
    ft = settings.ft.model_copy(update={"seed": args.seed})
    for k in range(args.folds):
        train = [i for i, f in enumerate(fold) if f != k]
        test = [i for i, f in enumerate(fold) if f == k]
        texts, labels = [rows[i]["text"] for i in train], [rows[i]["code"] for i in train]
        urls = [rows[i]["url"] for i in train]
        log(f"fold {k}: training on {len(train)} pages ({sum(labels)} code), judging {len(test)}")
        clf = Classifier.train(texts, labels, params=ft, vocab_size=settings.bpe_vocab_size, version=f"fold{k}",
                               signals=signals)  # fmt: skip
        stage = second_stage.train(clf, texts, labels, urls, params=ft, seed=args.seed)
        judged = [rows[i]["text"] for i in test]
        first[test] = clf.score(judged)
        second[test] = stage.score(judged) if stage else first[test]
        trained.append({"fold": k, "train_pages": len(train), "judged": len(test),
                        "second_stage": clf.meta.get("second_stage")})  # fmt: skip
    out = {
        "corpus": "CC-MAIN-DEV", "split": f"sha1(host) % {args.folds}", "threshold": THRESHOLD, "seed": args.seed,
        "floor": second_stage.FLOOR, "pages": len(rows), "hosts": len({r["host"] for r in rows}), "folds": trained,
        "fasttext": figures(first, rows, seed=args.seed),
        "two_stage": figures(second, rows, seed=args.seed),
        "note": "quality only, measured out of fold; the machine was shared and loaded, so no timings",
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    share = f"{CRAWL_CODE_SHARE:g}"
    print("| scoring | precision (95% CI) | recall (95% CI) | F1 (host bootstrap) | manual code found | FP | "
          f"FP rate (95% CI) | precision / F1 at {CRAWL_CODE_SHARE:.0%} code | AP | ROC AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("fasttext", "two_stage"):
        f = out[name]
        manual = f["by_kind"].get("manual", {})
        print(f"| {name} | {f['precision']:.3f} ({f['precision_ci'][0]:.3f}-{f['precision_ci'][1]:.3f}) | "
              f"{f['recall']:.3f} ({f['recall_ci'][0]:.3f}-{f['recall_ci'][1]:.3f}) | {f['f1']:.3f} "
              f"({f['f1_ci'][0]:.3f}-{f['f1_ci'][1]:.3f}) | {manual.get('code_found')} of {manual.get('code')} | "
              f"{f['fp']} | {f['fp_rate']:.4f} ({f['fp_rate_ci'][0]:.4f}-{f['fp_rate_ci'][1]:.4f}) | "
              f"{f[f'precision_at_{share}_code']:.3f} / {f[f'f1_at_{share}_code']:.3f} | "
              f"{f['average_precision']:.4f} | {f['roc_auc']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
