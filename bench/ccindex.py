"""Targeted recall through the crawl's URL index: what it costs and what it buys.

1. `lookup`: the cost of one host-prefix lookup in a columnar index of 10 million generated rows (the public
   schema, sorted by url_surtkey, 10 part files of 1M rows, row groups of 50,000), served by `webrecall mirror`
   over loopback: our reader (footers + matching row groups by byte range, webrecall.core.crawl.ccindex) against pyarrow
   datasets over fsspec HTTP, and DuckDB (local files: its httpfs extension is a download, not available here).
2. `dev`: on CC-MAIN-DEV, a round over 2 of the 8 WARC files (seed docs.python.org/), labels for 3 documentation
   patterns, then round 2 with expansion: share of those patterns' pages in all 8 files fetched, WARC bytes read
   against the records' bytes, index row groups read against those that hold a match; and round 2's model against
   the model of the same two rounds over all 8 files, scored on every labelled DEV page.

    .venv/bin/python bench/ccindex.py [--part lookup|dev|all] [--rows 10000000] [--out bench/results/ccindex.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
CRAWL = "CC-MAIN-GEN"
CODE = ["docs.djangoproject.com/", "www.sqlite.org/", "httpd.apache.org/docs/"]


def generate(out: Path, rows: int, *, file_rows: int = 1_000_000, row_group_rows: int = 50_000) -> dict[str, Any]:
    """`rows` captures of 100 pages per host, in the public schema and sort order, part by part."""
    from webrecall.core.crawl.ccindex import SCHEMA, TABLE_PREFIX, write_part

    rel_dir = f"{TABLE_PREFIX}/crawl={CRAWL}/subset=warc"
    (out / rel_dir).mkdir(parents=True, exist_ok=True)
    parts = []
    for n, start in enumerate(range(0, rows, file_rows)):
        count = min(file_rows, rows - start)
        idx = pa.array(range(start, start + count), pa.int64())
        host_no = pc.divide(idx, 100)
        page_no = pc.subtract(idx, pc.multiply(host_no, 100))
        site = pc.binary_join_element_wise("site", pc.utf8_lpad(pc.cast(host_no, pa.string()), 7, "0"), "")
        path = pc.binary_join_element_wise("/page/", pc.utf8_lpad(pc.cast(page_no, pa.string()), 3, "0"), ".html", "")
        host = pc.binary_join_element_wise("www.", site, ".com", "")
        url = pc.binary_join_element_wise("https://", host, path, "")
        key = pc.binary_join_element_wise("com,", site, ")", path, "")
        warc_no = pc.utf8_lpad(pc.cast(pc.bit_wise_and(pc.multiply(idx, 7919), 65535), pa.string()), 5, "0")
        warc = pc.binary_join_element_wise("crawl-data/CC-MAIN-GEN/segments/1716000000000.0/warc/CC-MAIN-GEN-",
                                           warc_no, ".warc.gz", "")  # fmt: skip

        def const(value: Any, typ: pa.DataType, count: int = count) -> pa.Array:
            return pa.array([value] * count, typ) if value is not None else pa.nulls(count, typ)

        cols = {
            "url_surtkey": key, "url": url, "url_host_name": host, "url_host_tld": const("com", pa.string()),
            "url_host_2nd_last_part": site, "url_host_3rd_last_part": const("www", pa.string()),
            "url_host_4th_last_part": const(None, pa.string()), "url_host_5th_last_part": const(None, pa.string()),
            "url_host_registry_suffix": const("com", pa.string()),
            "url_host_registered_domain": pc.binary_join_element_wise(site, ".com", ""),
            "url_host_private_suffix": const("com", pa.string()),
            "url_host_private_domain": pc.binary_join_element_wise(site, ".com", ""),
            "url_host_name_reversed": pc.binary_join_element_wise("com.", site, ".www", ""),
            "url_protocol": const("https", pa.string()), "url_port": const(None, pa.int32()), "url_path": path,
            "url_query": const(None, pa.string()),
            "fetch_time": pc.cast(pc.add(pc.multiply(idx, 997), 1_716_000_000_000_000), pa.timestamp("us", tz="UTC")),
            "fetch_status": pc.cast(pc.if_else(pc.equal(page_no, 99), 404, 200), pa.int16()),
            "fetch_redirect": const(None, pa.string()),
            "content_digest": pc.utf8_lpad(pc.cast(idx, pa.string()), 32, "A"),
            "content_mime_type": const("text/html", pa.string()),
            "content_mime_detected": const("text/html", pa.string()),
            "content_charset": const("UTF-8", pa.string()), "content_languages": const("eng", pa.string()),
            "content_truncated": const(None, pa.string()), "warc_filename": warc,
            "warc_record_offset": pc.cast(pc.multiply(pc.bit_wise_and(idx, 65535), 15_000), pa.int32()),
            "warc_record_length": const(15_000, pa.int32()), "warc_segment": const("1716000000000.0", pa.string()),
        }  # fmt: skip
        table = pa.table(cols).cast(SCHEMA)
        name = f"part-{n:05d}-bench.c000.gz.parquet"
        write_part(table, out / rel_dir / name, row_group_rows=row_group_rows)
        parts.append(f"{rel_dir}/{name}")
    listing = out / "crawl-data" / CRAWL / "cc-index-table.paths.gz"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_bytes(gzip.compress(("\n".join(parts) + "\n").encode(), mtime=0))
    size = sum((out / p).stat().st_size for p in parts)
    return {"rows": rows, "parts": len(parts), "row_group_rows": row_group_rows, "index_bytes": size}


def bench_lookup(rows: int, repeat: int) -> dict[str, Any]:
    from webrecall.core.crawl.ccindex import key_range, lookup
    from webrecall.mirror.server import serve

    work = Path(tempfile.mkdtemp(prefix="webrecall-ccindex-"))
    t0 = time.perf_counter()
    built = generate(work, rows)
    built["generate_seconds"] = round(time.perf_counter() - t0, 1)
    server, url = serve(str(work))
    host = f"site{(rows // 100) // 2:07d}.com"
    pattern = f"www.{host}/"
    out: dict[str, Any] = {"index": built, "pattern": pattern}

    def served() -> int:
        return sum(n for p, n in server.bytes_served.items() if p.endswith(".parquet"))

    def timed(fn: Any) -> tuple[float, Any, int]:
        best, result, nbytes = float("inf"), None, 0
        for _ in range(repeat):
            server.bytes_served.clear()
            start = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - start)
            nbytes = served()
        return best, result, nbytes

    seconds, (found, _, stats), nbytes = timed(lambda: lookup([pattern], CRAWL, index_base=url))
    out["ours_http"] = {"seconds": round(seconds, 3), "captures": len(found[pattern]), "bytes_served": nbytes,
                        **stats.as_dict()}  # fmt: skip

    kr = key_range(pattern)
    lo, hi = kr.spans[0][0], kr.spans[-1][1]
    files = [f"{url}{p}" for p in gzip.decompress((work / "crawl-data" / CRAWL / "cc-index-table.paths.gz")
                                                  .read_bytes()).decode().split()]  # fmt: skip
    cols = ["url_surtkey", "url", "fetch_status", "content_mime_detected", "warc_filename", "warc_record_offset",
            "warc_record_length"]  # fmt: skip

    def pyarrow_fsspec() -> int:
        import fsspec
        import pyarrow.dataset as ds
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs = PyFileSystem(FSSpecHandler(fsspec.filesystem("http")))
        dataset = ds.dataset(files, filesystem=fs, format="parquet")
        expr = (ds.field("url_surtkey") >= lo) & (ds.field("url_surtkey") <= hi) & (ds.field("fetch_status") == 200)
        return int(dataset.to_table(columns=cols, filter=expr).num_rows)

    seconds, n, nbytes = timed(pyarrow_fsspec)
    out["pyarrow_dataset_fsspec_http"] = {"seconds": round(seconds, 3), "captures": n, "bytes_served": nbytes}

    local = [str(work / p) for p in gzip.decompress((work / "crawl-data" / CRAWL / "cc-index-table.paths.gz")
                                                    .read_bytes()).decode().split()]  # fmt: skip
    seconds, (found, _, stats), _ = timed(lambda: lookup([pattern], CRAWL, index_base=str(work)))
    out["ours_local"] = {"seconds": round(seconds, 3), "captures": len(found[pattern]), **stats.as_dict()}
    try:
        import duckdb

        def duck() -> int:
            con = duckdb.connect()
            q = (f"select {', '.join(cols)} from read_parquet({local!r}) where url_surtkey between ? and ? "
                 "and fetch_status = 200")  # fmt: skip
            return len(con.execute(q, [lo, hi]).fetchall())

        seconds, n, _ = timed(duck)
        out["duckdb_local"] = {"seconds": round(seconds, 3), "captures": n}
    except ImportError:
        out["duckdb_local"] = "duckdb not installed (pip install -e '.[bench]')"
    server.shutdown()
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return out


def _model_quality(settings: Any, number: int, texts: list[str], truth: list[bool], on: list[bool]) -> dict:

    from webrecall.core.lifecycle.model_store import round_classifier
    from webrecall.core.model.scoring import precision_recall_f1

    clf = round_classifier(settings, number)
    scores = clf.score(texts)
    kept = [float(s) >= 0.5 for s in scores]

    def pr(mask: list[bool]) -> dict[str, float]:
        tp = sum(k and t and m for k, t, m in zip(kept, truth, mask, strict=True))
        fp = sum(k and not t and m for k, t, m in zip(kept, truth, mask, strict=True))
        fn = sum(not k and t and m for k, t, m in zip(kept, truth, mask, strict=True))
        p, r, f1 = precision_recall_f1(tp, fp, fn)
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}

    return {"all_pages": pr([True] * len(truth)), "label_patterns": pr(on),
            "other_pages": pr([not x for x in on])}  # fmt: skip


def bench_dev() -> dict[str, Any]:

    from webrecall.core import db as dbm
    from webrecall.core import label_store, totals
    from webrecall.core.crawl.ccindex import build_index
    from webrecall.core.labelfile import host_hash
    from webrecall.core.lifecycle.local import run_round
    from webrecall.core.lifecycle.spec import RoundSpec, create_round
    from webrecall.core.settings import Settings
    from webrecall.core.storage.store import Store
    from webrecall.core.urls.patterns import parse
    from webrecall.mirror.server import serve

    work = Path(tempfile.mkdtemp(prefix="webrecall-ccindex-dev-"))
    t0 = time.perf_counter()
    built = build_index(CORPUS, work / "index", crawls=["CC-MAIN-DEV"], row_group_rows=200)
    out: dict[str, Any] = {"index_build_seconds": round(time.perf_counter() - t0, 1),
                           "index": {k: v for k, v in built["CC-MAIN-DEV"].items() if k != "parts"}}  # fmt: skip
    server, url = serve(str(CORPUS), index_dir=str(work / "index"))
    rows = [json.loads(line) for line in (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").open(encoding="utf-8")]
    # measured on half of the hosts: the eval pages are no random negatives, so the other half must give them
    labels_path = work / "eval.jsonl"
    labels_path.write_text("".join(json.dumps(r) + "\n" for r in rows if host_hash(r["url"]) < 0.5), encoding="utf-8")

    def loop(name: str, limit: int, backend: str) -> tuple[Any, Any, Any]:
        settings = Settings(data_dir=str(work / name), database_url="", text_extractor="resiliparse",
                            expand_backend=backend)  # fmt: skip
        dbm.migrate(settings.db_url)
        spec = {"crawl_id": "CC-MAIN-DEV", "base_url": url, "limit": limit, "seed_patterns": ["docs.python.org/"],
                "eval_labels": str(labels_path)}  # fmt: skip
        r1 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
        with dbm.session(settings.db_url) as db:
            label_store.import_labels(db, [{"pattern": p, "label": "code"} for p in CODE], annotator="bench")
        server.bytes_served.clear()
        start = time.perf_counter()
        r2 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
        out[f"{name}_round2_seconds"] = round(time.perf_counter() - start, 1)
        return settings, r1, r2

    s2, r1_2, r2_2 = loop("two_files", 2, "columnar")
    t2_2 = totals.of(r2_2)
    assert t2_2.expansion is not None and t2_2.model is not None
    exp = t2_2.expansion.model_dump()
    sampled = ("CC-MAIN-DEV-00000", "CC-MAIN-DEV-00001")
    expansion_bytes = sum(n for p, n in server.bytes_served.items() if p.endswith(".warc.gz")
                          and not any(s in p for s in sampled))  # fmt: skip
    per = {}
    for p in CODE:
        total = sum(parse(p).matches(r["url"]) for r in rows)
        info = exp["patterns"][p]
        covered = (info["in_sample"] + info["fetched"]) / total
        per[p] = {"pages_in_8_files": total, "in_sample": info["in_sample"], "fetched": info["fetched"],
                  "failed": info["failed"], "covered": round(covered, 4)}  # fmt: skip
    out["expansion"] = {
        "patterns": per, "lookup_seconds": exp.get("lookup_seconds"), "index_bytes": exp["index_bytes"],
        "index_file_bytes": sum((work / "index" / p).stat().st_size for p in built["CC-MAIN-DEV"]["parts"]),
        "row_groups": exp["row_groups"], "row_groups_read": exp["row_groups_read"],
        "warc_bytes_read": exp["warc_bytes"], "record_bytes": exp["record_bytes"],
        "warc_bytes_ratio": exp["warc_bytes_ratio"], "warc_bytes_served_to_expansion": expansion_bytes,
        "seeds_round2": t2_2.model.seeds,
    }  # fmt: skip
    s8, r1_8, r2_8 = loop("eight_files", 8, "off")
    store = Store(s8.data_dir)
    texts: dict[str, str] = {}
    for t in sorted((Path(s8.data_dir) / "cache").glob("*.parquet")):
        if ".tok-" in t.name:
            continue
        table = store.read_table(f"cache/{t.name}", columns=["url", "text"])
        texts.update(zip(table["url"].to_pylist(), table["text"].to_pylist(), strict=True))
    urls = [r["url"] for r in rows if r["url"] in texts]
    truth = [r["label"] == "code" for r in rows if r["url"] in texts]
    on = [any(parse(p).matches(u) for p in CODE) for u in urls]
    page_texts = [texts[u] for u in urls]
    out["models_on_all_8_files"] = {
        "pages": len(urls),
        "round1_2_files": _model_quality(s2, 1, page_texts, truth, on),
        "round2_2_files_with_expansion": _model_quality(s2, 2, page_texts, truth, on),
        "round1_8_files": _model_quality(s8, 1, page_texts, truth, on),
        "round2_8_files": _model_quality(s8, 2, page_texts, truth, on),
    }  # fmt: skip
    evals = (("2_files_r1", r1_2), ("2_files_r2", r2_2), ("8_files_r1", r1_8), ("8_files_r2", r2_8))
    out["round_eval"] = {name: e.model_dump() if (e := totals.of(r).eval) else None for name, r in evals}
    server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["lookup", "dev", "all"], default="all")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ccindex.json"))
    args = parser.parse_args()
    result: dict[str, Any] = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    if args.part in ("lookup", "all"):
        result["lookup"] = bench_lookup(args.rows, args.repeat)
        print(json.dumps(result["lookup"], indent=1), flush=True)
    if args.part in ("dev", "all"):
        result["dev"] = bench_dev()
        print(json.dumps(result["dev"], indent=1), flush=True)
    result["load_average_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    Path(args.out).write_text(json.dumps({**previous, **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
