"""Peak RSS of building a round's training set (`core.model.seeds.build_seeds`) over a full-size WARC's page cache.

Generates (never committed) one page cache like a 1 GB WARC's: `--pages` pages (40,000) whose texts are CC-MAIN-DEV's
real pages under varied URLs and hosts, a few seed patterns' worth of code pages; then builds the training set in a
fresh process, today's and, with `--before COMMIT`, that commit's `seeds.py` (imported from `git show`), and reports
each one's wall time and peak RSS (VmHWM) and whether both chose the same pages.

    .venv/bin/python -m bench.seeds_memory [--pages 40000] [--before main]

Writes bench/results/seeds_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "seeds_memory.json"

CHILD = """
import hashlib, importlib.util, json, sys, time
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import PatternSet
spec = importlib.util.spec_from_file_location("seeds_under_test", sys.argv[2])
seeds = sys.modules["seeds_under_test"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seeds)
labels = PatternSet()
labels.add("code0.example/", "code")
labels.add("code1.example/", "code")
labels.add("forum0.example/", "non-code")
t0 = time.perf_counter()
train, heldout = seeds.build_seeds(Store(sys.argv[1]), ["cache/full.parquet"], labels=labels, seed=1)
seconds = time.perf_counter() - t0
with open("/proc/self/status", encoding="ascii") as f:
    kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
digest = hashlib.sha256(json.dumps([train.urls, train.sources, heldout.urls]).encode()).hexdigest()
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(kb / 1024), "train": train.counts(),
                  "heldout": heldout.counts(), "pages_digest": digest}))
"""


def generate(data_dir: str, pages: int) -> dict:
    """The page cache: CC-MAIN-DEV's texts (extracted as the scoring extractor does) cycled under varied URLs."""
    from tests.core.conftest import DEV_LABELS, load_labelled
    from webrecall.core.pipeline.passes import BATCH
    from webrecall.core.storage.store import Store

    texts, _, _ = load_labelled(DEV_LABELS, "resiliparse")
    urls, out = [], []
    for i in range(pages):
        host = (f"code{i % 2}.example" if i % 50 == 0 else "forum0.example" if i % 97 == 0
                else f"h{i % 7919}.example")  # fmt: skip
        urls.append(f"https://{host}/p/{i}")
        out.append(f"{texts[i % len(texts)]}\n[{i}]")  # distinct texts: none is skipped as a duplicate
    table = pa.table({"url": urls, "text": out, "signals": ["pre=1 code=2 tc=100"] * pages})
    with Store(data_dir).writer("cache/full.parquet", table.schema) as writer:  # row groups as the index pass writes
        for batch in table.to_batches(max_chunksize=BATCH):
            writer.write_batch(batch)
    return {"pages": pages, "text_mb": round(sum(len(t) for t in out) / 2**20, 1)}


def run(data_dir: str, seeds_file: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, data_dir, seeds_file], check=True, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, cwd=str(ROOT))  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40_000)
    ap.add_argument("--before", help="a commit whose seeds.py is measured too")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as tmp:
        report: dict = {"cache": generate(tmp, args.pages)}
        report["today"] = run(tmp, str(ROOT / "webrecall" / "core" / "model" / "seeds.py"))
        if args.before:
            old = Path(tmp) / "seeds_before.py"
            show = ["git", "-C", str(ROOT), "show", f"{args.before}:webrecall/core/model/seeds.py"]
            old.write_bytes(subprocess.run(show, check=True, capture_output=True).stdout)
            report["before"] = run(tmp, str(old))
            report["same_pages"] = report["before"]["pages_digest"] == report["today"]["pages_digest"]
    report["load_average"] = [round(x, 2) for x in load] + [round(x, 2) for x in os.getloadavg()]
    report["cores"] = os.cpu_count()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
