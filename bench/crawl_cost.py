"""What one 3-round loop over a whole Common Crawl costs: core-hours and storage, projected from measured per-page
figures.

Every input is a per-page (or per-item) cost read from a bench result, with where it comes from; the crawl's size
and the loop's shape are parameters. A pipeline is one row of `modes()`: its CPU ms a page in round 1 and in a
later round; a new way to run a round (a WET-first scan, say) is one more row. Everything else (expansion, dedup,
finalize, training) is the same for every mode of ours and absent for the plain pipeline and datatrove, which
re-read and re-extract every page each round and keep no cache.

    .venv/bin/python bench/crawl_cost.py        # reads bench/results/*.json, writes bench/results/crawl_cost.json

Measured: the per-page figures (CPU time of one core; on whatever machine and load each result records).
Projected: everything multiplied out to the crawl (90,000 WARC files, ~3 billion pages), and the few inputs marked
`assumed` (how many patterns a round expands, what share of pages a round keeps, how many hosts a crawl has).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MS_PER_CORE_HOUR = 3_600_000


@dataclass(slots=True)
class Mode:
    """A way to run a round's passes: CPU ms a page in round 1 (from the WARC) and in a later round."""

    name: str
    round1_ms: float
    later_ms: float
    source: str
    cache: bool = True
    """Keeps the page cache (and so pays for its storage, and for expansion, dedup and finalize as ours does)."""


@dataclass(slots=True)
class Crawl:
    warcs: int = 90_000
    pages: float = 3.0e9
    rounds: int = 3
    hosts: float = 40e6
    """assumed: 'tens of millions of hosts'; the DomainStat rows of a round."""
    patterns_per_round: int = 1_000
    """assumed: labelled URL patterns a later round expands through the crawl's URL index."""
    index_parts: int = 300
    """Common Crawl's columnar index of one crawl: ~300 Parquet files (a lookup reads each one's footer)."""


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run the bench that writes it first (bench/README.md)")
    return dict(json.loads(path.read_text()))


def inputs() -> dict[str, dict[str, Any]]:
    """Per-page costs and their sources. `value`: ms of one core a page unless the name says otherwise."""
    full, latest, fin, dedup, ccx = (_load(n) for n in ("fullsize.json", "latest.json", "finalize.json",
                                                         "dedup.json", "ccindex.json"))  # fmt: skip
    pp = full["per_page"]
    pages = full["warc"]["pages"]
    kept = full["rounds"]["round1"]["finalize"]["totals"]["recalled"]
    ours = latest["rows"]["ours"]

    def measured(value: float, source: str) -> dict[str, Any]:
        return {"value": value, "source": source, "kind": "measured"}

    return {
        "fullsize_round1_ms": measured(pp["round1_index"]["cpu_ms"] + pp["round1_recall"]["cpu_ms"],
                                       "fullsize.json: round 1 index + recall CPU ms a page (1 GiB WARC over HTTP)"),
        "fullsize_later_ms": measured(pp["round2_index"]["cpu_ms"] + pp["round2_recall"]["cpu_ms"],
                                      "fullsize.json: round 2 index (cache hit) + recall CPU ms a page"),
        "bench_round1_ms": measured(1000 / ours["per_core"], "latest.json: ours, pages/s on one pinned core"),
        "bench_later_ms": measured(1000 * ours["round2_seconds"] / ours["pages"], "latest.json: ours, round 2"),
        "baseline_ms": measured(1000 / latest["rows"]["baseline"]["per_core"], "latest.json: plain pipeline"),
        "datatrove_ms": measured(1000 / latest["rows"]["datatrove"]["per_core"], "latest.json: datatrove"),
        "train_core_s": measured(full["rounds"]["round1"]["train"]["cpu_s"], "fullsize.json: training, CPU s a round"),
        "dedup_ms_per_kept": measured(1000 * full["rounds"]["round1"]["dedup"]["cpu_s"] / max(kept, 1),
                                      "fullsize.json: dedup partitions, CPU ms a kept page (signatures are in recall)"),
        "finalize_ms": measured(1000 * fin["rounds"]["round1"]["after"]["seconds"] / fin["rows_per_round"],
                                "finalize.json: finalize of 10M index rows (wall, one process), ms a page"),
        "lookup_s_per_part": measured(ccx["lookup"]["ours_http"]["seconds"] / ccx["lookup"]["index"]["parts"],
                                      "ccindex.json: one host-prefix lookup, s per index part file"),
        "expand_ms_per_page": measured(pp["round1_index"]["cpu_ms"],
                                       "fullsize.json: index pass ms a page (a fetched page is read and extracted "
                                       "the same way, by byte range)"),
        "kept_share": {"value": ours["kept"] / ours["pages"], "kind": "assumed",
                       "source": "latest.json: ours keeps this share of CC-MAIN-BENCH (~3% code, as a real crawl)"},
        "expand_pages_per_pattern": {"value": 5_000, "kind": "assumed",
                                     "source": "settings.expand_max_per_pattern (a cap: a pattern may have fewer)"},
        **{f"bytes_{k}": measured(v, "fullsize.json: bytes a page under the data dir")
           for k, v in full["storage"]["bytes_per_page"].items()},
        **{f"bytes_per_kept_{k}": measured(full["storage"]["bytes"][f"round1_{k}"] / max(kept, 1),
                                           "fullsize.json: bytes a kept page (only kept pages are written there)")
           for k in ("signatures", "kept_pages", "dedup")},
        "fullsize_pages": measured(pages, "fullsize.json: pages of the generated WARC"),
        **({"wet_round1_ms": measured(1000 / wet["per_core"], "latest.json: ours WET-first, pages/s on one pinned "
                                      "core (the pre-filter over WET text, then the HTML of candidates)"),
            "wet_later_ms": measured(1000 * wet["round2_seconds"] / wet["pages"], "latest.json: ours WET-first, "
                                     "round 2")} if (wet := latest["rows"].get("wet")) else {}),
    }  # fmt: skip


def modes(x: dict[str, dict[str, Any]]) -> list[Mode]:
    v = {k: d["value"] for k, d in x.items()}
    return [
        Mode("ours (1 GiB WARC, loaded machine)", v["fullsize_round1_ms"], v["fullsize_later_ms"], "fullsize.json"),
        Mode("ours (BENCH WARC, one pinned core)", v["bench_round1_ms"], v["bench_later_ms"], "latest.json"),
        *([Mode("ours, WET-first (BENCH WARC, one pinned core)", v["wet_round1_ms"], v["wet_later_ms"],
                 "latest.json")] if "wet_round1_ms" in v else []),
        Mode("plain pipeline (trafilatura)", v["baseline_ms"], v["baseline_ms"], "latest.json", cache=False),
        Mode("datatrove (its defaults)", v["datatrove_ms"], v["datatrove_ms"], "latest.json", cache=False),
    ]


def project(mode: Mode, x: dict[str, dict[str, Any]], crawl: Crawl) -> dict[str, Any]:
    """Core-hours per stage and storage of one loop for one mode."""
    v = {k: d["value"] for k, d in x.items()}
    n, later = crawl.pages, crawl.rounds - 1
    hours = {"round 1 passes": n * mode.round1_ms / MS_PER_CORE_HOUR,
             f"rounds 2-{crawl.rounds} passes": later * n * mode.later_ms / MS_PER_CORE_HOUR}  # fmt: skip
    storage: dict[str, float] = {}
    if mode.cache:
        kept = n * v["kept_share"]
        expanded = crawl.patterns_per_round * v["expand_pages_per_pattern"]
        lookups_s = crawl.patterns_per_round * crawl.index_parts * v["lookup_s_per_part"]
        hours["expansion (lookups + fetches)"] = later * (lookups_s / 3600 + expanded * v["expand_ms_per_page"]
                                                          / MS_PER_CORE_HOUR)  # fmt: skip
        hours["dedup"] = crawl.rounds * kept * v["dedup_ms_per_kept"] / MS_PER_CORE_HOUR
        hours["finalize"] = crawl.rounds * n * v["finalize_ms"] / MS_PER_CORE_HOUR
        hours["training"] = crawl.rounds * v["train_core_s"] / 3600
        per_round = n * (v["bytes_round1_index"] + v["bytes_round1_partials"]) + kept * sum(
            v[f"bytes_per_kept_{k}"] for k in ("signatures", "kept_pages", "dedup"))
        storage = {"page cache (text + token lines, once)": n * v["bytes_page_cache"],
                   "rounds (index, partials, signatures, kept pages, dedup)": crawl.rounds * per_round}
    total = sum(hours.values())
    return {"mode": mode.name, "per_page_ms": {"round1": round(mode.round1_ms, 3), "later": round(mode.later_ms, 3)},
            "core_hours": {k: round(h) for k, h in hours.items()}, "core_hours_total": round(total),
            "storage_tb": {k: round(b / 1e12, 2) for k, b in storage.items()},
            "storage_tb_total": round(sum(storage.values()) / 1e12, 2)}  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    stages = list(dict.fromkeys(s for r in rows for s in r["core_hours"]))
    head = "| mode | " + " | ".join(stages) + " | total core-hours | storage (TB) |"
    lines = [head, "|" + "---|" * (len(stages) + 3)]
    for r in rows:
        cells = [f"{r['core_hours'][s]:,}" if s in r["core_hours"] else "-" for s in stages]
        lines.append(f"| {r['mode']} | " + " | ".join(cells) + f" | {r['core_hours_total']:,} | "
                     f"{r['storage_tb_total'] if r['storage_tb'] else '-'} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Crawl()
    ap.add_argument("--pages", type=float, default=default.pages)
    ap.add_argument("--warcs", type=int, default=default.warcs)
    ap.add_argument("--patterns", type=int, default=default.patterns_per_round)
    ap.add_argument("--out", type=Path, default=RESULTS / "crawl_cost.json")
    args = ap.parse_args()
    crawl = Crawl(warcs=args.warcs, pages=args.pages, patterns_per_round=args.patterns)
    x = inputs()
    rows = [project(m, x, crawl) for m in modes(x)]
    row_bytes = _db_row_bytes()
    database = {"domainstat_bytes_per_row": row_bytes,
                "domainstat_gb_per_round": round(crawl.hosts * row_bytes / 1e9, 1) if row_bytes else None}  # fmt: skip
    out = {"crawl": asdict(crawl), "inputs": x, "modes": [asdict(m) for m in modes(x)], "projection": rows,
           "database": database, "table": table(rows)}  # fmt: skip
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(out["table"])


def _db_row_bytes() -> float | None:
    """DomainStat bytes a row, table and indexes, from pg_scale.json (None before that bench ran)."""
    path = RESULTS / "pg_scale.json"
    if not path.exists():
        return None
    pg = json.loads(path.read_text())
    size = sum(b for name, b in pg["relation_bytes"].items() if "domainstat" in name)
    return round(size / pg["write"]["rows"], 1)


if __name__ == "__main__":
    main()
