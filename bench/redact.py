"""Redaction of secrets and personal data (webrecall/core/text/redact.py), measured on real pages; writes
bench/results/redact.json.

- cost: a round over the BENCH WARC (with DEV-00003, whose Python and PostgreSQL docs pages are the seeds' pages),
  then its export timed with and without redaction (JSONL and Parquet, CPU seconds, best of --repeat), the CPU
  time the export spends in redaction's own code (it replaces the values where the recall task's dedup step found
  them), the share of the recall tasks' time that finding takes, and a scan of every text in MB/s;
- recall: fresh real-format secrets and addresses (tests/core/text/secret_cases.py) placed in DEV and BENCH page
  text, one per page: the share that no longer appears after redaction, per kind;
- false positives: DEV's documentation pages (kind `docs`, resiliparse text as the index pass makes it): code lines
  (inside ``` fences) changed, by what changed them; documented example values changed (must be none).

    .venv/bin/python bench/redact.py [--repeat 5] [--placed 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _own_seconds(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds an export spends in its redaction's own code (reading the spans the dedup step recorded, and
    replacing them or scanning), least of `repeat`: the export's difference with and without redaction is within
    the noise of a loaded machine."""
    from webrecall.core.lifecycle import export as ex

    spent = [0.0]

    def timed(f):  # type: ignore[no-untyped-def]
        def run(*a, **k):  # type: ignore[no-untyped-def]
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[0] += time.process_time() - t

        return run

    best = float("inf")
    saved = ex._redacted, ex.redaction_spans
    ex._redacted, ex.redaction_spans = timed(ex._redacted), timed(ex.redaction_spans)
    try:
        for _ in range(repeat):
            spent[0] = 0.0
            fn()
            best = min(best, spent[0])
    finally:
        ex._redacted, ex.redaction_spans = saved
    return best


def export_cost(corpus: Path, repeat: int) -> dict:
    from webrecall.core import db as dbm
    from webrecall.core.lifecycle.export import export, recalled_batches
    from webrecall.core.lifecycle.local import run_round
    from webrecall.core.lifecycle.spec import RoundSpec, create_round
    from webrecall.core.queries import warc_tasks
    from webrecall.core.settings import FastTextParams, Settings
    from webrecall.core.text.redact import redact

    seg = "segments/1716000000000.0/warc"
    warcs = [str(corpus / f"crawl-data/CC-MAIN-BENCH/{seg}/CC-MAIN-BENCH-00000.warc.gz"),
             str(corpus / f"crawl-data/CC-MAIN-DEV/{seg}/CC-MAIN-DEV-00003.warc.gz")]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp, database_url="", ft=FastTextParams(threads=1))
        dbm.migrate(settings.db_url)
        spec = RoundSpec(warcs=warcs, seed_patterns=["docs.python.org/", "www.postgresql.org/docs/"])
        rnd = run_round(settings, create_round(settings, spec).id, processes=1)
        out: dict = {"recalled": rnd.totals["recalled"], "redactions": rnd.totals.get("redactions")}
        texts = [t for b in recalled_batches(settings, rnd.number, redact=False) for t in b.column("text").to_pylist()]
        out["exported_pages"], out["exported_chars"] = len(texts), sum(map(len, texts))
        redact("warm up")  # the prefilter compiles once per process, outside the timings
        for fmt in ("jsonl", "parquet"):
            plain = _best(lambda f=fmt: export(settings, rnd.number, io.BytesIO(), fmt=f, redact=False), repeat)
            redacted = _best(lambda f=fmt: export(settings, rnd.number, io.BytesIO(), fmt=f, redact=True), repeat)
            own = _own_seconds(lambda f=fmt: export(settings, rnd.number, io.BytesIO(), fmt=f, redact=True), repeat)
            out[fmt] = {"export_s": round(plain, 4), "export_redacted_s": round(redacted, 4),
                        "overhead": round(redacted / plain - 1, 4), "redaction_own_s": round(own, 4),
                        "redaction_share": round(own / redacted, 4)}  # fmt: skip
        alone = _best(lambda: [redact(t) for t in texts], repeat)
        out["redact_alone_s"] = round(alone, 4)
        out["redact_mb_per_s"] = round(out["exported_chars"] / alone / 1e6, 1)
        recall = [t for t in warc_tasks(settings, rnd.id) if t.phase == "recall"]
        task_s = sum(float(t.stats.get("task_seconds", 0)) for t in recall)
        redact_s = sum(float(t.stats.get("redact_seconds", 0)) for t in recall)
        out["recall_tasks_s"], out["recall_tasks_redact_s"] = round(task_s, 3), round(redact_s, 3)
        out["redact_share_of_recall_tasks"] = round(redact_s / task_s, 4) if task_s else None
    return out


def placed_recall(texts: list[str], n: int, seed: int) -> dict:
    from tests.core.text import secret_cases as cases
    from webrecall.core.text.redact import redact

    rng = random.Random(seed)
    placed, missed = Counter[str](), Counter[str]()
    examples: list[str] = []
    for text in rng.sample(texts, min(n, len(texts))):
        p = rng.choice(cases.GENERATORS)(rng)
        placed[p.kind] += 1
        if p.value in redact(cases.place(text, p, rng))[0]:
            missed[p.kind] += 1
            examples.append(p.lines[:200])
    total = sum(placed.values())
    return {"placed": total, "missed": sum(missed.values()), "recall": round(1 - sum(missed.values()) / total, 4),
            "by_kind": {k: {"placed": v, "missed": missed[k]} for k, v in sorted(placed.items())},
            "missed_examples": examples[:10], "seed": seed}  # fmt: skip


def docs_false_positives(texts: list[str], kinds: list[str]) -> dict:
    from tests.core.text import secret_cases as cases
    from webrecall.core.text.redact import redact

    code_lines = 0
    changed: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for text, kind in zip(texts, kinds, strict=True):
        if kind != "docs":
            continue
        code, by_line = cases.lines_found(text)
        code_lines += len(code)
        for line_no, what in by_line.items():
            found.update(what)
            if line_no in code:
                changed["all"] += 1
                changed["email_only" if what == {"email"} else "secrets_or_ips"] += 1
    return {"docs_pages": kinds.count("docs"), "code_lines": code_lines,
            "code_lines_changed": changed["all"], "share": round(changed["all"] / code_lines, 5),
            "code_lines_changed_by_secrets_or_ips": changed["secrets_or_ips"],
            "share_secrets_or_ips": round(changed["secrets_or_ips"] / code_lines, 5),
            "code_lines_changed_by_emails": changed["email_only"], "lines_with_a_value_by_kind": dict(found),
            "documented_examples": len(cases.DOCUMENTED),
            "documented_examples_changed": sum(redact(x)[0] != x for x in cases.DOCUMENTED)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--placed", type=int, default=3000, help="secrets placed, one per page")
    ap.add_argument("--skip-round", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "redact.json"))
    args = ap.parse_args()
    from tests.conftest import CORPUS
    from tests.core.conftest import DEV_LABELS, load_labelled

    corpus = CORPUS if CORPUS.exists() else Path("/work/shared/corpus")
    dev = load_labelled(DEV_LABELS, "resiliparse")[0]
    bench = load_labelled(corpus / "labels" / "CC-MAIN-BENCH.jsonl", "resiliparse")[0]
    kinds = [json.loads(line)["kind"] for line in DEV_LABELS.open(encoding="utf-8")]
    result: dict = {"load_average": os.getloadavg(), "cores": os.cpu_count()}
    result["recall"] = placed_recall([t for t in dev + bench if t], args.placed, seed=28)
    print(json.dumps(result["recall"]), flush=True)
    result["false_positives"] = docs_false_positives(dev, kinds)
    print(json.dumps(result["false_positives"]), flush=True)
    if not args.skip_round:
        result["export"] = export_cost(corpus, args.repeat)
        print(json.dumps(result["export"]), flush=True)
    result["load_average_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
