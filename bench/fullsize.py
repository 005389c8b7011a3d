"""One full-size WARC file through a round, over HTTP, with the connection dropped once mid-file.

1. `warcgen` writes one WARC of >= 40,000 pages and >= 1 GiB in Common Crawl's layout from the corpus's real pages
   (DEV + BENCH responses, one copy per URL), under `data/bench-fullsize/` (reused on a rerun with the same sizes).
2. The mirror (`webrecall.mirror.server.create_app`, the app `webrecall mirror` serves) serves it on loopback behind
   a middleware that cuts the first WARC download after half the file: the reader must resume with a Range request.
3. Two rounds run the steps the in-process runner runs (`core.lifecycle.local.run_round`), each step in a fresh
   process so its peak RSS (VmHWM) and CPU time are its own: round 1 reads the WARC (index pass), trains on
   seed patterns, recalls, dedups and finalizes; round 2 reads the page cache only (what rounds 2 and 3 of a loop do).
4. Checks that every generated URL is in the page cache and in each round's page index exactly once, and sizes the
   files each step wrote, per page.

    .venv/bin/python bench/fullsize.py [--min-pages 40000] [--min-gib 1] [--out bench/results/fullsize.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
CRAWL = "CC-MAIN-FULL"
SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
"""Copy 0 of every page keeps its URL, so the usual seed patterns find their pages (and only copy 0 of them)."""


class DropOnce:
    """ASGI middleware: the first GET of a `.warc.gz` whose body passes `after` bytes is cut there (the response
    never completes, so the server closes the connection). `hits` logs (path, Range header, bytes sent)."""

    def __init__(self, app: Any, after: int) -> None:
        self.app, self.after, self.dropped = app, after, False
        self.hits: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(".warc.gz"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        scope = {**scope, "extensions": {}}  # no zero-copy file send: every byte passes `counting`
        cut = not self.dropped and b"range" not in headers
        sent = 0

        class Cut(Exception):
            pass

        async def counting(message: dict[str, Any]) -> None:
            nonlocal sent
            if message["type"] == "http.response.body" and cut:
                body = message.get("body", b"")
                if sent + len(body) > self.after:
                    self.dropped = True
                    await send({**message, "body": body[: self.after - sent], "more_body": True})
                    sent = self.after
                    raise Cut
            sent += len(message.get("body", b"")) if message["type"] == "http.response.body" else 0
            await send(message)

        try:
            await self.app(scope, receive, counting)
        except Cut:
            pass  # the response is left unfinished: uvicorn closes the connection
        finally:
            self.hits.append((scope["path"], headers.get(b"range", b"").decode(), sent))


def serve(directory: Path, after: int) -> tuple[str, DropOnce, Any]:
    import uvicorn

    from webrecall.mirror.server import create_app

    app = DropOnce(create_app(str(directory)), after)
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off"))
    threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/", app, server


# -- each step in its own process ----------------------------------------------------------------------------------


def _step(name: str, settings: Any, round_id: int, task_id: int | None) -> dict[str, Any]:
    """Run one step of a round here; returns its summary with wall and CPU seconds and this process's peak RSS."""
    from webrecall.core.lifecycle import dedup_stage, steps
    from webrecall.core.lifecycle.context import RoundContext
    from webrecall.core.lifecycle.warc_task import process_warc_task

    start, cpu0 = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {"step": name}
    if name in ("index", "recall"):
        result = process_warc_task(settings, task_id or 0)
        out.update(status=result.status, error=result.error, stats=result.stats)
    elif name == "expand":
        out["tasks"] = steps.expand(RoundContext.load(settings, round_id))
    elif name == "train":
        out["model_id"] = steps.train(RoundContext.load(settings, round_id))
    elif name == "dedup":
        dedup_stage.run_partitions(RoundContext.load(settings, round_id))
    elif name == "finalize":
        rnd = steps.finalize_round(RoundContext.load(settings, round_id))
        out.update(status=rnd.status, totals=rnd.totals)
    out["wall_s"] = round(time.perf_counter() - start, 2)
    out["cpu_s"] = round(time.process_time() - cpu0, 2)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): `ru_maxrss` would carry over the parent's, which a spawned child inherits
    through the fork before its exec."""
    with open("/proc/self/status", encoding="ascii") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return round(kb / 1024, 1)


def in_child(name: str, settings: Any, round_id: int, task_id: int | None = None) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        out = pool.submit(_step, name, settings, round_id, task_id).result()
    print(f"  {name}: {out['wall_s']} s, cpu {out['cpu_s']} s, peak RSS {out['peak_rss_mb']} MB", file=sys.stderr)
    return out


def run_round(settings: Any, base_url: str) -> tuple[int, dict[str, Any]]:
    """The in-process runner's steps (core.lifecycle.local.run_round), each in a fresh process."""
    from webrecall.core.lifecycle import steps
    from webrecall.core.lifecycle.context import RoundContext
    from webrecall.core.lifecycle.spec import RoundSpec, create_round
    from webrecall.core.queries import pending_tasks

    rnd = create_round(settings, RoundSpec(crawl_id=CRAWL, base_url=base_url, seed_patterns=SEEDS))
    rid = rnd.id or 0
    print(f"round {rnd.number}", file=sys.stderr)
    steps.start(RoundContext.load(settings, rid))
    out: dict[str, Any] = {}
    out["index"] = [in_child("index", settings, rid, t) for t in pending_tasks(settings, rid, "index")]
    out["expand"] = in_child("expand", settings, rid)
    out["train"] = in_child("train", settings, rid)
    out["recall"] = [in_child("recall", settings, rid, t) for t in pending_tasks(settings, rid, "recall")]
    out["dedup"] = in_child("dedup", settings, rid)
    out["finalize"] = in_child("finalize", settings, rid)
    return rnd.number, out


# -- checks and sizes ----------------------------------------------------------------------------------------------


def url_check(urls: list[str], found: list[str]) -> dict[str, int]:
    """Pages of the generated list missing from `found`, found more than once, or found but never generated."""
    counts, want = Counter(found), set(urls)
    return {"generated": len(urls), "found": len(found), "lost": len(want - counts.keys()),
            "duplicated": sum(1 for n in counts.values() if n > 1), "unknown": len(counts.keys() - want)}  # fmt: skip


def sizes(data: Path, rounds: list[int], pages: int) -> dict[str, Any]:
    """Bytes (and bytes per page) of what each step wrote under the data dir."""

    def total(pattern: str) -> int:
        return sum(p.stat().st_size for p in data.glob(pattern) if p.is_file())

    tokens = total("cache/*.tok-*.parquet")
    out: dict[str, Any] = {"page_cache_text": total("cache/*.parquet") - tokens, "page_cache_tokens": tokens}
    out["page_cache"] = out["page_cache_text"] + out["page_cache_tokens"]
    for n in rounds:
        for name, pattern in (("index", "index/*"), ("partials", "partials/*"), ("signatures", "sigs/*"),
                              ("kept_pages", "pages/*"), ("dedup", "dedup/*")):  # fmt: skip
            out[f"round{n}_{name}"] = total(f"rounds/{n}/{pattern}")
    out["models"] = total("models/*/*")
    out["database"] = total("webrecall.db*")
    return {"bytes": out, "bytes_per_page": {k: round(v / pages, 1) for k, v in out.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "bench-fullsize", help="generated crawl (kept)")
    ap.add_argument("--min-pages", type=int, default=40_000)
    ap.add_argument("--min-gib", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fullsize.json")
    args = ap.parse_args()

    from bench import warcgen
    from webrecall.core import db as dbm
    from webrecall.core.settings import Settings
    from webrecall.core.storage.layout import cache_path, index_path
    from webrecall.core.storage.store import Store
    from webrecall.core.text.extract import DEFAULT, get_extractor

    result: dict[str, Any] = {"load_before": os.getloadavg(), "cores": os.cpu_count()}
    min_bytes = int(args.min_gib * (1 << 30))
    meta_path = args.work / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("min_pages") != args.min_pages or meta.get("min_bytes") != min_bytes:
        t = time.perf_counter()
        warcs = sorted((args.corpus / "crawl-data").glob("CC-MAIN-DEV/**/*.warc.gz"))
        warcs += sorted((args.corpus / "crawl-data").glob("CC-MAIN-BENCH/**/*.warc.gz"))
        sources = warcgen.read_sources(warcs)
        rel, written = warcgen.write_crawl(args.work, sources, crawl=CRAWL, min_pages=args.min_pages,
                                           min_bytes=min_bytes)  # fmt: skip
        meta = {"min_pages": args.min_pages, "min_bytes": min_bytes, "warc": rel, "source_pages": len(sources),
                "copies": written.copies, "records": written.records, "generate_s": round(time.perf_counter() - t, 1)}
        meta_path.write_text(json.dumps(meta, indent=1))
    urls = gzip.decompress((args.work / f"{CRAWL}.urls.gz").read_bytes()).decode().split("\n")[:-1]
    warc_file = args.work / meta["warc"]
    from webrecall.core.urls.domains import split_url

    result["warc"] = {**meta, "pages": len(urls), "bytes": warc_file.stat().st_size,
                      "hosts": len({split_url(u)[0] for u in urls}), "sites": len({split_url(u)[1] for u in urls})}
    print(f"WARC: {result['warc']}", file=sys.stderr)

    base_url, mirror, server = serve(args.work, after=warc_file.stat().st_size // 2)
    data = Path(tempfile.mkdtemp(prefix="bench-fullsize-", dir=args.work))
    settings = Settings(data_dir=str(data), database_url="", processes=1)
    dbm.migrate(settings.db_url)
    rounds: dict[str, Any] = {}
    try:
        for _ in range(args.rounds):
            number, steps = run_round(settings, base_url)
            rounds[f"round{number}"] = steps
    finally:
        server.should_exit = True
    result["http"] = {"warc_requests": [{"path": p, "range": r, "bytes": b} for p, r, b in mirror.hits],
                      "dropped_after": mirror.after, "dropped": mirror.dropped}  # fmt: skip
    loc = base_url + meta["warc"]
    store = Store(str(data))
    cached = store.read_table(cache_path(loc, get_extractor(DEFAULT).id), ["url"])["url"].to_pylist()
    result["checks"] = {"page_cache": url_check(urls, cached)}
    for n in range(1, args.rounds + 1):
        found = store.read_table(index_path(n, loc), ["url"])["url"].to_pylist()
        result["checks"][f"round{n}_index"] = url_check(urls, found)
    result["rounds"] = rounds
    result["per_page"] = per_page(rounds, len(urls))
    result["storage"] = sizes(data, list(range(1, args.rounds + 1)), len(urls))
    result["load_after"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("checks", "per_page", "storage", "http")}, indent=1), file=sys.stderr)


def per_page(rounds: dict[str, Any], pages: int) -> dict[str, Any]:
    """Milliseconds per page (wall and CPU) of each step, and the peak RSS of its process."""
    out: dict[str, Any] = {}
    for name, steps in rounds.items():
        for step, runs in steps.items():
            runs = runs if isinstance(runs, list) else [runs]
            out[f"{name}_{step}"] = {
                "wall_ms": round(1000 * sum(r["wall_s"] for r in runs) / pages, 3),
                "cpu_ms": round(1000 * sum(r["cpu_s"] for r in runs) / pages, 3),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
    return out


if __name__ == "__main__":
    main()
