"""The dated runs of the bench, read from git: one row per committed version of a bench/results/*.json file.

Run: .venv/bin/python bench/history.py [--write]   (--write replaces the generated tables in results/history.md)
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "bench" / "results" / "history.md"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _load(pair: Any) -> str:
    return f"{pair[0]:.1f} -> {pair[1]:.1f}" if pair and None not in pair else ""


def run_rows(commit: str, run: dict[str, Any]) -> Iterator[list[str]]:
    rows = run.get("rows", {})
    ours, base, dt = (rows.get(n, {}) for n in ("ours", "baseline", "datatrove"))
    load = run.get("load") or {}
    models = run.get("models") or ([run["model"]] if "model" in run else [])
    signals = "" if not models else ("signals + text" if models[0].get("signals") else "text only")
    yield [
        run.get("date", "")[:16].replace("T", " "), commit[:7], str(run.get("repeat", "")),
        _load((load.get("loadavg_1m_before"), load.get("loadavg_1m_after"))),
        str(models[0].get("params", {}).get("dim", "")) if models else "", signals,
        " / ".join(_num(r.get("per_core"), ".1f") for r in (ours, base, dt)),
        _num(run.get("ratio_ours_vs_baseline"), ".1f"), _num(run.get("ratio_ours_vs_datatrove"), ".1f"),
        " / ".join(_num(r.get("f1"), ".3f") for r in (ours, base, dt)),
        _num(run.get("round2_speedup"), ".1f"), _num(ours.get("peak_rss_mb"), ".0f"),
    ]  # fmt: skip


def generalise_rows(commit: str, run: dict[str, Any]) -> Iterator[list[str]]:
    date = _git("log", "-1", "--format=%cd", "--date=format:%Y-%m-%d %H:%M", commit).strip()
    for row in run.values():
        at, bench = row["at"]["chosen"], row.get("bench", {})
        yield [
            date, commit[:7], row["variant"], _num(row["calibration"]["threshold"], ".4f"),
            f"{at['heldout_docs_recall']:.3f} ({at['heldout_docs'][0]}/{at['heldout_docs'][1]})",
            "/".join(map(str, at["manual_code_found"])), "/".join(map(str, at["manual_noncode_kept"])),
            "/".join(map(str, at["web_false_positives"])), _num(at["precision"], ".4f"), _num(at["f1"], ".4f"),
            f"{_num(bench.get('precision'), '.3f')} / {_num(bench.get('f1'), '.3f')}",
        ]  # fmt: skip


def finalize_rows(commit: str, run: dict[str, Any]) -> Iterator[list[str]]:
    date = _git("log", "-1", "--format=%cd", "--date=format:%Y-%m-%d %H:%M", commit).strip()
    load = _load((run["load_average_at_start"][0], run["load_average_at_end"][0]))
    for name, r in run["rounds"].items():
        b, a = r["before"], r["after"]
        yield [date, commit[:7], load, name, f"{b['seconds']:.2f} s, {b['peak_rss_mb']:,} MB",
               f"{a['seconds']:.2f} s, {a['peak_rss_mb']:,} MB", "yes" if r["same_totals"] else "no"]  # fmt: skip


TABLES: dict[str, tuple[str, list[str], Callable[[str, dict[str, Any]], Iterator[list[str]]]]] = {
    "runs": ("latest.json", ["run (UTC)", "commit", "repeat", "load 1 min: before -> after", "dim", "ours' models",
                             "pages/s per core: ours / baseline / datatrove", "ours x baseline", "ours x datatrove",
                             "F1 ours / baseline / datatrove", "round 2 speed-up", "ours' peak RSS (MB)"], run_rows),
    "generalise": ("generalise.json", ["committed (UTC)", "commit", "variant", "chosen threshold",
                                       "held-out docs recall", "manual code", "manual non-code", "web FP",
                                       "precision", "F1", "BENCH precision / F1"], generalise_rows),
    "finalize": ("finalize.json", ["committed (UTC)", "commit", "load 1 min: start -> end", "round",
                                   "before", "after", "same totals"], finalize_rows),
}  # fmt: skip


def table(name: str) -> str:
    result, header, rows = TABLES[name]
    path = f"bench/results/{result}"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for commit in _git("log", "--format=%H", "--", path).split():
        lines += ["| " + " | ".join(r) + " |" for r in rows(commit, json.loads(_git("show", f"{commit}:{path}")))]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the tables in bench/results/history.md")
    args = ap.parse_args()
    if not args.write:
        print("\n\n".join(table(name) for name in TABLES))
        return
    doc = HISTORY.read_text()
    for name in TABLES:
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        head, rest = doc.split(begin, 1)
        doc = f"{head}{begin}\n{table(name)}\n{end}{rest.split(end, 1)[1]}"
    HISTORY.write_text(doc)


if __name__ == "__main__":
    main()
