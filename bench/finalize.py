"""Finalize at scale: a simulated round of N page-index rows, finalized before (the page index) and after (partials).

The rows are generated (a power-law of domains, per-domain code shares, scores from two beta laws, lognormal text
lengths), written as the recall tasks write them: one index shard per WARC and, for "after", its partials
(`webrecall.core.pipeline.partials`; the time it adds to a task is measured too). Two rounds over the same WARCs:
  round 1  a threshold round (0.5)
  round 2  a top-K round (budget `--top-k`, floor 0.1) whose growth is measured over round 1
Each is finalized twice, each time in its own process: "before" runs `lifecycle.finalize.finalize` of the base commit
(`--before`, extracted with `git archive`, reading the whole index), "after" today's. Peak RSS is the process's
`ru_maxrss`, time its wall clock around `finalize`; both finalize the same round in the same database, and the
totals they write are compared.

    .venv/bin/python -m bench.finalize [--rows 10000000] [--warcs 200] [--domains 100000]

Writes bench/results/finalize.json.

`--crawl` instead simulates one domain partition of a whole crawl's finalize (`lifecycle.domain_partitions`): its
share, 1/K, of the pages and domains of `--crawl-warcs` WARC files (90,000 of ~33,000 HTML pages, 40M domains),
generated as the recall tasks write them (index shards and partials) into `--files` files that each stand for
`crawl-warcs / files` WARCs' share. One partition task runs on it in its own process, then the reduce (finalize's
totals and domain stats, discovery's queue) over that partition's outputs; each reports wall time and peak RSS
(VmHWM). What it leaves out: at that size every partition task also reads the other K-1 partitions' rows of each
WARC's partials and index, to filter them out.

    .venv/bin/python -m bench.finalize --crawl [--k 512] [--files 200]

Writes bench/results/finalize_partition.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "finalize.json"
LANGS = ["en", "de", "fr", "es", "ja", "ru", "zh", "pt", "it", "nl", "pl", "unknown"]
LANG_P = np.array([50, 8, 6, 6, 5, 5, 5, 4, 3, 3, 2, 3], np.float64)

CHILD = """
import json, resource, sys, time
{imports}
settings = Settings(data_dir=sys.argv[1], database_url="", top_k_floor=0.1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
rnd = finalize({context})
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = rnd.totals
keep = ("recalled", "recalled_chars", "html_pages", "domains", "related_domains", "languages", "growth")
print(json.dumps({{"package": package.__file__, "seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024),
                  "rss_after_imports_mb": round(base / 1024), "effective_threshold": rnd.effective_threshold,
                  "totals": {{k: t.get(k) for k in keep}}}}))
"""
IMPORTS = {  # the base commit's flat `recall` package, and today's `webrecall`
    "before": "import recall as package\nfrom recall.report import finalize\nfrom recall.settings import Settings",
    "after": "import webrecall as package\nfrom webrecall.core.lifecycle.finalize import finalize\n"
             "from webrecall.core.lifecycle.context import RoundContext\nfrom webrecall.core.settings import Settings",
}
ARGS = {"before": "settings, int(sys.argv[2])", "after": "RoundContext.load(settings, int(sys.argv[2]))"}


def _world(data_dir: str, domains: int, exponent: float, seed: int) -> tuple[Any, Any, np.random.Generator, dict]:
    """A fresh data dir and database, and `domains` simulated hosts under a power law of weight `exponent`."""
    from webrecall.core import db as dbm
    from webrecall.core.settings import Settings
    from webrecall.core.storage.store import Store

    rng = np.random.default_rng(seed)
    settings = Settings(data_dir=data_dir, database_url="")
    dbm.migrate(settings.db_url)
    ids = np.arange(domains)
    weight = 1.0 / (ids + 10.0) ** exponent
    world = {"hosts": pa.array([f"h{j}.s{j // 3}.test" for j in ids]), "n": domains,
             "sites": pa.array([f"s{j // 3}.test" for j in ids]), "weight": weight / weight.sum(),
             "code_share": rng.beta(0.3, 5.0, domains)}  # fmt: skip
    return settings, Store(data_dir), rng, world


def _pages(rng: np.random.Generator, world: dict, i: int, per: int, loc: str) -> tuple[dict, np.ndarray]:
    """The index columns but the score of WARC `i`'s `per` pages, and their round-1 scores."""
    d = rng.choice(world["n"], per, p=world["weight"])
    is_code = rng.random(per) < world["code_share"][d]
    score = np.where(is_code, rng.beta(8, 1.5, per), rng.beta(0.6, 12, per)).astype(np.float32)
    domain, site = world["hosts"].take(pa.array(d)), world["sites"].take(pa.array(d))
    path = pc.binary_join_element_wise("/p/", pc.cast(pa.array(np.arange(i * per, (i + 1) * per)), pa.string()), "")
    base = {
        "url": pc.binary_join_element_wise("https://", domain, path, ""), "domain": domain, "site": site,
        "path": path, "warc": pa.array([loc] * per), "offset": pa.array(np.arange(per, dtype=np.int64) * 4096),
        "length": pa.array(np.full(per, 4000, np.int64)),
        "lang": pa.array(np.array(LANGS)[rng.choice(len(LANGS), per, p=LANG_P / LANG_P.sum())]),
        "text_len": pa.array(np.minimum(rng.lognormal(8, 1.2, per), 2e9).astype(np.int32)),
    }  # fmt: skip
    return base, score


def generate(data_dir: str, *, rows: int, warcs: int, domains: int, top_k: int, seed: int = 0) -> dict:
    """Two rounds of index shards (and partials) over `warcs` simulated WARC files, and their database rows."""
    from webrecall.core import db as dbm
    from webrecall.core.pipeline.partials import WarcPartials
    from webrecall.core.storage.layout import INDEX_SCHEMA, index_path

    settings, store, rng, world = _world(data_dir, domains, 1.1, seed)
    per = rows // warcs
    locations = [f"http://sim.test/crawl/segment-{i:05d}.warc.gz" for i in range(warcs)]
    rounds = {1: (0.5, None), 2: (0.1, top_k)}
    with dbm.session(settings.db_url) as db:
        ids = {}
        for number, (_, k) in rounds.items():
            rnd = dbm.Round(number=number, status="finalizing", crawl_id="SIM", threshold=0.5, top_k=k)
            db.add(rnd)
            db.commit()
            db.refresh(rnd)
            assert rnd.id is not None
            ids[number] = rnd.id
            db.add_all([dbm.WarcTask(round_id=rnd.id, phase="recall", warc_url=loc, status="done")
                        for loc in locations])  # fmt: skip
        db.commit()
    index_s = partial_s = 0.0
    for i, loc in enumerate(locations):
        base, score1 = _pages(rng, world, i, per, loc)
        for number, (threshold, _) in rounds.items():
            score = score1 if number == 1 else np.clip(score1 + rng.normal(0, 0.05, per), 0, 1).astype(np.float32)
            table = pa.table({**base, "score": score, "kept": score >= threshold}).select(INDEX_SCHEMA.names)
            table = table.cast(INDEX_SCHEMA)
            t0 = time.perf_counter()
            store.write_table(index_path(number, loc), table)
            index_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            parts = WarcPartials(threshold)
            parts.add(table)
            parts.write(store, number, loc)
            partial_s += time.perf_counter() - t0
        if (i + 1) % 20 == 0:
            print(f"  generated {i + 1}/{warcs} WARCs", file=sys.stderr)
    return {"round_ids": ids, "index_write_s": round(index_s, 1), "partials_s": round(partial_s, 1)}


def round_ids(data_dir: str) -> dict[int, int]:
    from sqlmodel import select

    from webrecall.core import db as dbm
    from webrecall.core.settings import Settings

    with dbm.session(Settings(data_dir=data_dir, database_url="").db_url) as db:
        return {r.number: r.id for r in db.exec(select(dbm.Round)) if r.id is not None}


def partials_ms(data_dir: str, warcs: int = 10) -> dict[str, float]:
    """What the partials add to a recall task: building them from its index (as the task does batch by batch) and
    writing them, per WARC of round 1 and of round 2 (whose floor keeps more pages)."""
    from webrecall.core.pipeline.partials import INDEX_COLUMNS, WarcPartials
    from webrecall.core.storage.store import Store

    store, out = Store(data_dir), {}
    for number, threshold in ((1, 0.5), (2, 0.1)):
        shards = store.list(f"rounds/{number}/index")[:warcs]
        t0 = time.perf_counter()
        for rel in shards:
            parts = WarcPartials(threshold)
            for batch in store.iter_batches(rel, batch_size=512, columns=INDEX_COLUMNS):
                parts.add(pa.Table.from_batches([batch]))
            domains, kept = parts.tables()
            store.write_table(f"bench-partials/{number}.domains.parquet", domains)
            store.write_table(f"bench-partials/{number}.kept.parquet", kept)
        out[f"round{number}"] = round(1000 * (time.perf_counter() - t0) / max(len(shards), 1), 1)
    return out


def before_tree(commit: str, into: str) -> str:
    """The `recall` package of the base commit, importable from `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "recall"], check=True, capture_output=True)
    with tarfile.open(fileobj=__import__("io").BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(variant: str, pythonpath: str, data_dir: str, round_id: int) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    child = CHILD.format(imports=IMPORTS[variant], context=ARGS[variant])
    out = subprocess.run([sys.executable, "-c", child, data_dir, str(round_id)], env=env, check=True,
                         capture_output=True, text=True, cwd=pythonpath)  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {variant:6s} round {round_id}: {result['seconds']:8.2f} s  peak RSS {result['peak_rss_mb']:6d} MB",
          file=sys.stderr)  # fmt: skip
    return result


CRAWL_CHILD = """
import json, sys, time
from webrecall.core.lifecycle import domain_partitions, steps
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.settings import Settings
settings = Settings(data_dir=sys.argv[1], database_url="", page_items_max=50)
ctx = RoundContext.load(settings, int(sys.argv[2]))
t0 = time.perf_counter()
out = domain_partitions.run_partition(ctx, 0) if sys.argv[3] == "partition" else steps.reduce_round(ctx).totals
seconds = time.perf_counter() - t0
with open("/proc/self/status", encoding="ascii") as f:
    kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
keep = ("recalled", "domains", "related_domains", "html_pages", "discovery")
summary = {k: out.get(k) for k in keep} if isinstance(out, dict) else out
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(kb / 1024), "out": summary}))
"""


def generate_share(data_dir: str, *, pages: int, domains: int, files: int, seed: int = 0) -> dict:
    """A round of `files` index shards and partials holding one partition's pages over its domains (a power law, as
    in `generate`), recorded as one partition (`finalize_partitions=1`: the task reads only its share)."""
    from webrecall.core import db as dbm
    from webrecall.core.params import RoundParams
    from webrecall.core.pipeline.partials import WarcPartials
    from webrecall.core.storage.layout import INDEX_SCHEMA, domains_partial_path, index_path

    settings, store, rng, world = _world(data_dir, domains, 0.9, seed)
    per = pages // files
    locations = [f"http://sim.test/crawl/share-{i:05d}.warc.gz" for i in range(files)]
    with dbm.session(settings.db_url) as db:
        rnd = dbm.Round(number=1, status="finalizing", crawl_id="SIM", threshold=0.5,
                        params=RoundParams(finalize_partitions=1).as_json())  # fmt: skip
        db.add(rnd)
        db.commit()
        db.refresh(rnd)
        assert rnd.id is not None
        round_id = rnd.id
        db.add_all([dbm.WarcTask(round_id=round_id, phase=phase, warc_url=loc, status="done")
                     for loc in locations for phase in ("index", "recall")])  # fmt: skip
        db.commit()
    partial_rows = 0
    for i, loc in enumerate(locations):
        base, score = _pages(rng, world, i, per, loc)
        table = pa.table({**base, "score": score, "kept": score >= 0.5}).select(INDEX_SCHEMA.names).cast(INDEX_SCHEMA)
        store.write_table(index_path(1, loc), table)
        parts = WarcPartials(0.5)
        parts.add(table)
        parts.write(store, 1, loc)
        partial_rows += store.read_table(domains_partial_path(1, loc), columns=["pages"]).num_rows
        if (i + 1) % 20 == 0:
            print(f"  generated {i + 1}/{files} files", file=sys.stderr)
    return {"round_id": round_id, "partial_rows": partial_rows, "index_rows": per * files}


def crawl_partition(args: argparse.Namespace) -> dict:
    pages = args.crawl_warcs * args.pages_per_warc // args.k
    domains = args.crawl_domains // args.k
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-finalize-part-") as tmp:
        data_dir = str(Path(tmp) / "data")
        t0 = time.perf_counter()
        print(f"generating one partition of {args.k}: {pages:,} pages over {domains:,} domains in {args.files} files",
              file=sys.stderr)  # fmt: skip
        gen = generate_share(data_dir, pages=pages, domains=domains, files=args.files)
        gen["seconds"] = round(time.perf_counter() - t0, 1)
        steps = {}
        for step in ("partition", "reduce"):
            out = subprocess.run([sys.executable, "-c", CRAWL_CHILD, data_dir, str(gen["round_id"]), step],
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True,
                                 text=True, cwd=str(ROOT))  # fmt: skip
            steps[step] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {step}: {steps[step]['seconds']} s, peak RSS {steps[step]['peak_rss_mb']} MB", file=sys.stderr)
    return {
        "simulated": {"crawl_warcs": args.crawl_warcs, "pages_per_warc": args.pages_per_warc,
                      "crawl_domains": args.crawl_domains, "k": args.k, "files": args.files,
                      "share_pages": pages, "share_domains": domains, "share_partial_rows": gen["partial_rows"],
                      "crawl_partial_rows_projected": gen["partial_rows"] * args.k},
        "generate_s": gen["seconds"], "partition_task": steps["partition"], "reduce_of_this_partition": steps["reduce"],
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crawl", action="store_true", help="one domain partition of a whole crawl's finalize")
    ap.add_argument("--k", type=int, default=512, help="--crawl: the domain partitions")
    ap.add_argument("--files", type=int, default=200, help="--crawl: files the partition's share is written as")
    ap.add_argument("--crawl-warcs", type=int, default=90_000)
    ap.add_argument("--pages-per-warc", type=int, default=33_000)
    ap.add_argument("--crawl-domains", type=int, default=40_000_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--warcs", type=int, default=200)
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--top-k", type=int, default=300_000)
    ap.add_argument("--before", default="22b53eb", help="commit whose finalize reads the whole index")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--data-dir", help="keep the simulated data here (reused when it holds a database already)")
    args = ap.parse_args()
    if args.crawl:
        report = crawl_partition(args)
        out = Path(args.out if args.out != str(RESULTS) else RESULTS.with_name("finalize_partition.json"))
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-finalize-") as tmp:
        data_dir = args.data_dir or str(Path(tmp) / "data")
        if (Path(data_dir) / "webrecall.db").exists():
            print(f"reusing the simulated rounds in {data_dir}", file=sys.stderr)
            gen = {"round_ids": round_ids(data_dir), "reused": data_dir}
        else:
            t0 = time.perf_counter()
            print(f"generating {args.rows:,} index rows x 2 rounds over {args.warcs} WARCs...", file=sys.stderr)
            gen = generate(data_dir, rows=args.rows, warcs=args.warcs, domains=args.domains, top_k=args.top_k)
            gen["seconds"] = round(time.perf_counter() - t0, 1)
        gen["per_task_partials_ms"] = partials_ms(data_dir)
        old = before_tree(args.before, str(Path(tmp) / "before"))
        results: dict[str, dict] = {}
        for number in (1, 2):  # round 2's growth reads round 1, finalized first
            rid = gen["round_ids"][number]
            results[f"round{number}"] = {"before": run("before", old, data_dir, rid),
                                         "after": run("after", str(ROOT), data_dir, rid)}  # fmt: skip
    for r in results.values():
        b, a = r["before"], r["after"]
        r["same_totals"] = b["totals"] == a["totals"] and b["effective_threshold"] == a["effective_threshold"]
        r["speedup"] = round(b["seconds"] / a["seconds"], 2) if a["seconds"] else None
        r["rss_ratio"] = round(b["peak_rss_mb"] / a["peak_rss_mb"], 2) if a["peak_rss_mb"] else None
    report = {
        "rows_per_round": args.rows, "warcs": args.warcs, "domains": args.domains, "top_k": args.top_k,
        "generate": gen,
        "rounds": results, "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
        "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
