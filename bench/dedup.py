"""Dedup and decontamination, measured on real pages (CC-MAIN-DEV, CC-MAIN-BENCH); writes bench/results/dedup.json.

- signatures: pages/s per core of shingling + MinHash with rensa and with datasketch (same shingles, one process),
  and of the HumanEval 13-gram check, on DEV's code pages (the kind of page a round keeps);
- a round over one DEV WARC and the BENCH WARC (two crawls, the same captures): the share of the recall tasks' time
  the signatures take, and that the export holds each page once;
- near-duplicates built from real DEV docs pages (tests/core/pipeline/dedup_cases.py): precision and recall of pair
  detection at the configured threshold, for FineWeb's 14x8 and a looser 20x5;
- decontamination: every HumanEval problem quoted in a DEV page is flagged; false positives on all DEV pages.

    .venv/bin/python bench/dedup.py [--copies 100] [--skip-round]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def signatures_speed(texts: list[str]) -> dict:
    from webrecall.core.pipeline import decontam
    from webrecall.core.pipeline.dedup import DedupConfig, shingles, signature

    out: dict = {"pages": len(texts), "chars_per_page": round(sum(map(len, texts)) / len(texts))}
    t = time.process_time()
    for text in texts:
        shingles(text, 5)
    out["shingles_pages_per_s"] = round(len(texts) / (time.process_time() - t), 1)
    for backend in ("rensa", "datasketch"):
        cfg = DedupConfig(backend=backend)
        signature(texts[0], cfg)  # imports and permutations outside the timing
        t = time.process_time()
        for text in texts:
            signature(text, cfg)
        out[f"{backend}_pages_per_s"] = round(len(texts) / (time.process_time() - t), 1)
    bench = decontam.load(("humaneval",), 13)
    t = time.process_time()
    for text in texts:
        bench.matches(text)
    out["decontam_pages_per_s"] = round(len(texts) / (time.process_time() - t), 1)
    return out


def near_dups(texts: list[str], urls: list[str], copies: int) -> dict:
    from tests.core.pipeline.dedup_cases import dev_docs, near_copies, pair_quality, run_dedup
    from webrecall.core.pipeline.dedup import DedupConfig
    from webrecall.core.storage.store import Store

    docs = dev_docs(texts, urls)
    corpus = docs + list(near_copies(docs, n=copies, seed=0))
    out: dict = {"original_pages": len(docs), "copies": 2 * copies}
    for name, cfg in (("14x8", DedupConfig()), ("20x5", DedupConfig(bands=20, rows=5, num_perm=112, threshold=0.6))):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            removed = run_dedup(Store(tmp), corpus, cfg)
            q = pair_quality(corpus, removed, cfg.threshold)
            q["seconds"] = round(time.perf_counter() - t, 1)
            q["threshold"] = cfg.threshold
        for kind in ("nav", "edit"):
            q[f"recall_{kind}"] = _recall_of(corpus, removed, kind)
        out[name] = q
    return out


def _recall_of(corpus: list, removed: list[dict], kind: str) -> float:
    cluster = {i: i for i in range(len(corpus))}
    for r in removed:
        cluster[r["offset"]] = int(r["dedup_of"].rsplit("/", 1)[1])
    mine = [i for i, d in enumerate(corpus) if d.kind == kind]
    return round(sum(cluster[i] == cluster[corpus[i].source] for i in mine) / len(mine), 4)


def decontamination(texts: list[str], labels: list[bool]) -> dict:
    from webrecall.core.pipeline import decontam

    bench = decontam.load(("humaneval",), 13)
    flagged = [i for i, t in enumerate(texts) if bench.matches(t)]
    with gzip.open(decontam.humaneval_path(), "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh]
    rng = random.Random(0)
    code_pages = [t for t, c in zip(texts, labels, strict=True) if c and len(t) > 2000]
    found = 0
    for p in problems:  # each problem quoted in a real code page, re-flowed as a blog would
        page = rng.choice(code_pages)
        quote = re.sub(r"\s+", " ", p["prompt"] + p["canonical_solution"])
        found += p["task_id"] in " ".join(bench.matches(page[:1500] + "\n" + quote + "\n" + page[1500:3000]))
    return {"dev_pages": len(texts), "dev_code_pages": sum(labels), "false_positives": len(flagged),
            "false_positive_code_pages": sum(labels[i] for i in flagged),
            "quoted_problems": len(problems), "quoted_flagged": found}  # fmt: skip


def round_share() -> dict:
    from webrecall.core import db as dbm
    from webrecall.core import totals
    from webrecall.core.lifecycle import dedup_stage
    from webrecall.core.lifecycle.context import RoundContext
    from webrecall.core.lifecycle.export import export
    from webrecall.core.lifecycle.local import run_round
    from webrecall.core.lifecycle.spec import RoundSpec, create_round
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.dedup import canonical_url
    from webrecall.core.queries import warc_tasks
    from webrecall.core.settings import FastTextParams, Settings
    from webrecall.core.storage.store import Store

    corpus = ROOT.parent / "shared" / "corpus"
    if not corpus.exists():
        corpus = Path("/work/shared/corpus")
    seg = "segments/1716000000000.0/warc"
    warcs = [str(corpus / f"crawl-data/CC-MAIN-DEV/{seg}/CC-MAIN-DEV-00003.warc.gz"),
             str(corpus / f"crawl-data/CC-MAIN-BENCH/{seg}/CC-MAIN-BENCH-00000.warc.gz")]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp, database_url="", ft=FastTextParams(threads=1))
        dbm.migrate(settings.db_url)
        spec = RoundSpec(warcs=warcs, seed_patterns=["docs.python.org/", "www.postgresql.org/docs/"])
        t, cpu = time.perf_counter(), time.process_time()
        rnd = run_round(settings, create_round(settings, spec).id, processes=1)  # in this process: CPU time counts
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        store = Store(settings.data_dir)
        sig_cpu = time.process_time()
        for task in warc_tasks(settings, rnd.id):  # the recall tasks' hook again, alone, on the same shards
            if task.phase == "recall":
                dedup_stage.signatures(RoundContext.of(settings, rnd, store=store), task.warc_url, Stats())
        sig_cpu = time.process_time() - sig_cpu
        tasks = warc_tasks(settings, rnd.id)
        task_s = sum(float(x.stats.get("task_seconds", 0)) for x in tasks)
        recall_s = sum(float(x.stats.get("task_seconds", 0)) for x in tasks if x.phase == "recall")
        sig_s = sum(float(x.stats.get("signatures_seconds", 0)) for x in tasks)
        rows = {}
        for dedup in (False, True):
            buf = io.BytesIO()
            export(settings, rnd.number, buf, dedup=dedup, decontaminate=False)
            rows[dedup] = [json.loads(line) for line in buf.getvalue().splitlines()]
        keys = [canonical_url(r["url"]) for r in rows[True]]
        t = totals.of(rnd)
        return {
            "warcs": 2, "html_pages": t.html_pages, "recalled": t.recalled,
            "round_wall_s": round(wall, 1), "round_cpu_s": round(cpu, 1), "signatures_cpu_s": round(sig_cpu, 3),
            "signatures_share_of_round_cpu": round(sig_cpu / cpu, 4),
            "warc_tasks_s": round(task_s, 2), "recall_tasks_s": round(recall_s, 2),
            "signatures_s": round(sig_s, 3), "signatures_share_of_tasks": round(sig_s / task_s, 4),
            "signatures_share_of_recall_tasks": round(sig_s / recall_s, 4),
            "dedup": totals.dedup_round(t), "exported_without_dedup": len(rows[False]),
            "exported": len(rows[True]), "exported_unique_urls": len(set(keys)),
        }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100, help="near-duplicates of each kind")
    ap.add_argument("--skip-round", action="store_true")
    ap.add_argument("--only-round", action="store_true", help="update the round figures of an existing result")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "dedup.json"))
    args = ap.parse_args()
    from tests.core.conftest import DEV_LABELS, load_labelled

    if args.only_round:
        result = json.loads(Path(args.out).read_text())
        result["round"] = round_share()
        result["round"]["load_average"] = os.getloadavg()
        print(json.dumps(result["round"]), flush=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        return
    texts, labels, urls = load_labelled(DEV_LABELS, "resiliparse")
    code = [t for t, c in zip(texts, labels, strict=True) if c]
    result = {"load_average": os.getloadavg(), "cores": os.cpu_count()}
    result["signatures"] = signatures_speed(code[:800])
    print(json.dumps(result["signatures"]), flush=True)
    result["near_duplicates"] = near_dups(texts, urls, args.copies)
    print(json.dumps(result["near_duplicates"]), flush=True)
    result["decontamination"] = decontamination(texts, labels)
    print(json.dumps(result["decontamination"]), flush=True)
    if not args.skip_round:
        result["round"] = round_share()
        print(json.dumps(result["round"]), flush=True)
    result["load_average_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
