"""End-to-end benchmark: the plain pipeline, datatrove's and ours on CC-MAIN-BENCH, scored out-of-fold by two
CC-MAIN-DEV models; plus the fidelity of each extractor's text on DEV pages.

Run: .venv/bin/python bench/run.py [--repeat 2] [--corpus PATH]   (datatrove: pip install -e '.[bench]')
- baseline: warcio -> decode -> trafilatura on every HTML page -> fastText score (batches of 512) -> keep >= 0.5
- datatrove: its own pipeline with its defaults, WarcReader -> Trafilatura -> FastTextClassifierFilter -> JsonlWriter,
  on a plain fastText model (no BPE) trained on the same fold pages, as a datatrove user would
- ours: index_warc (fastwarc + resiliparse into the page cache) then recall_warc (score; the kept text is the
  cached text, nothing re-read); round 2 re-runs recall_warc from the cache alone.
  `--text-extractor trafilatura` runs ours as a trafilatura round instead (refetch + cascade, calibrated margin).
- raw read: fastwarc over every record, the floor no reader can beat.
- fidelity (untimed, cached): code blocks verbatim / present and template-line share per extractor on DEV pages.
Every BENCH page is also a DEV page, so DEV is split into 2 folds by sha1(host) % 2 and model A is trained on
fold 0, model B on fold 1. Each timed pass loads and scores with model A only (as in production); model B scores
afterwards, untimed, and each page's kept decision is taken from the model that never saw its host.
Each runs in a fresh subprocess pinned to one core (best of --repeat); results go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results" / "latest.json"
THRESHOLD = 0.5
SCORE_BATCH = 512
HTML_TYPES = ("text/html", "application/xhtml+xml")
ROWS = ("baseline", "datatrove", "ours", "raw")
STEPS = ("train", "calibrate", "fidelity", *ROWS)
FIDELITY_CODE_PAGES = 150  # DEV code pages with indented <pre> blocks, the first by sha1(url)
FIDELITY_SITES, FIDELITY_SITE_PAGES = 10, 25  # docs sites x pages for the template-line share
TARGET_KEPT = 0.99  # issue 8: keep >= 99% of the baseline's kept code pages
FOLDS = 2
FOLD_SCHEME = "sha1(host) % 2"  # in the cache key: changing the split retrains


def warc_files(corpus: Path, crawl: str) -> list[str]:
    return sorted(str(p) for p in (corpus / "crawl-data" / crawl).glob("segments/*/warc/*.warc.gz"))


def read_labels(corpus: Path, crawl: str) -> dict[str, bool]:
    with (corpus / "labels" / f"{crawl}.jsonl").open(encoding="utf-8") as fh:
        return {row["url"]: row["label"] == "code" for row in map(json.loads, fh)}


def _sha(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


# -- the models: one per host fold of DEV, cached by everything that changes them -------------------------------


@lru_cache(maxsize=65536)
def _host_fold(host: str) -> int:
    return int.from_bytes(hashlib.sha1(host.encode()).digest()[:8], "big") % FOLDS


def host_fold(url: str) -> int:
    """The DEV fold of a URL: a stable hash of its host, so every page of a site lands in the same fold."""
    from webrecall.core.crawl.domains import split_url

    return _host_fold(split_url(url)[0])


def model_dirs(corpus: Path) -> tuple[Path, ...]:
    """Key: fastText params, BPE vocab, DEV labels, the fold split and the training code; `-fold<k>` = trained
    on fold k only."""
    from webrecall.core.settings import Settings

    settings = Settings()
    key = json.dumps(
        {
            "ft": settings.ft.model_dump(),
            "vocab": settings.bpe_vocab_size,
            "labels": _sha(corpus / "labels" / "CC-MAIN-DEV.jsonl"),
            "code": _sha(*(ROOT / "webrecall/core" / f
                            for f in ("model/classifier.py", "text/tokenizer.py", "text/extract.py"))),
            "folds": FOLD_SCHEME,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return tuple(CACHE / f"model-{digest}-fold{k}" for k in range(FOLDS))


def ensure_models(corpus: Path) -> tuple[Path, ...]:
    outs = model_dirs(corpus)
    todo = [k for k, out in enumerate(outs) if not (out / "meta.json").exists()]  # written last by Classifier.save
    plain_todo = [k for k, out in enumerate(outs) if not plain_model(out).exists()]
    if not todo and not plain_todo:
        return outs
    from webrecall.core.model.classifier import Classifier
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import index_warc
    from webrecall.core.settings import Settings
    from webrecall.core.storage.store import Store

    settings, labels = Settings(), read_labels(corpus, "CC-MAIN-DEV")
    folds: list[tuple[list[str], list[bool], set[str]]] = [([], [], set()) for _ in range(FOLDS)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="webrecall-bench-dev-") as tmp:
        store = Store(tmp)
        for path in warc_files(corpus, "CC-MAIN-DEV"):
            table = store.read_table(index_warc(path, store=store, stats=Stats()), columns=["url", "domain", "text"])
            cols = (table["url"].to_pylist(), table["domain"].to_pylist(), table["text"].to_pylist())
            for url, host, text in zip(*cols, strict=True):
                if url in labels:
                    texts, ys, hosts = folds[host_fold(url)]
                    texts.append(text)
                    ys.append(labels[url])
                    hosts.add(host)
    sizes = ", ".join(f"fold {k}: {len(f[0])} pages ({sum(f[1])} code, {len(f[2])} hosts)" for k, f in enumerate(folds))
    print(f"model: labelled DEV pages indexed in {time.perf_counter() - start:.0f}s; {sizes}", file=sys.stderr)
    for k in todo:
        texts, ys, hosts = folds[k]
        out = outs[k]
        clf = Classifier.train(texts, ys, params=settings.ft, vocab_size=settings.bpe_vocab_size, version=out.name)
        clf.meta["fold"] = {"k": k, "of": FOLDS, "scheme": FOLD_SCHEME, "hosts": len(hosts)}
        print(f"model: fold {k} trained in {clf.meta['train_seconds']}s -> {out}", file=sys.stderr)
        clf.save(out)
    for k in plain_todo:
        train_plain(folds[k][0], folds[k][1], settings.ft, plain_model(outs[k]))
    return outs


def plain_model(bpe_model: Path) -> Path:
    return bpe_model.with_name(f"{bpe_model.name}-plain.bin")


def train_plain(texts: list[str], ys: list[bool], params, out: Path) -> None:
    """A fastText model as a datatrove user trains one: the page text on one line (whitespace words, no BPE), the
    same fold pages and hyper-parameters as the BPE model, so only the tokenization differs."""
    import random

    import fasttext

    from webrecall.core.model.classifier import NEGATIVE, POSITIVE, epochs_for

    start = time.perf_counter()
    lines = [
        f"{POSITIVE if y else NEGATIVE} {' '.join(t.split())}" for t, y in zip(texts, ys, strict=True) if t.strip()
    ]
    random.Random(params.seed).shuffle(lines)
    tokens = sum(line.count(" ") for line in lines)
    with tempfile.TemporaryDirectory(prefix="webrecall-bench-plain-") as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = fasttext.train_supervised(
            input=str(path), dim=params.dim, lr=params.lr, wordNgrams=params.word_ngrams, minCount=params.min_count,
            epoch=epochs_for(params, tokens), bucket=params.bucket, loss=params.loss, thread=params.threads,
            seed=params.seed, verbose=0,
        )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out))
    print(f"model: plain fastText trained in {time.perf_counter() - start:.0f}s -> {out}", file=sys.stderr)


def judge(url: str) -> int:
    """The model that decides a page out-of-fold: model k trained on fold k, so a page of fold 0 is judged by
    model B (1) and a page of fold 1 by model A (0)."""
    return 1 - host_fold(url)


def load_model(path: Path):
    from webrecall.core.model.classifier import Classifier

    return Classifier.load(path)


def calibrate(corpus: Path, models: tuple[Path, ...]) -> dict:
    """The cascade margin, calibrated on held-out labels: the DEV pages that are not BENCH pages, each scored on its
    resiliparse and its trafilatura text by the model that never saw its host (`webrecall.core.model.calibration`)."""
    out = CACHE / f"calibration-v2-{models[0].name}-t{TARGET_KEPT}.json"
    if out.exists():
        return json.loads(out.read_text(encoding="utf-8"))
    from webrecall.core.crawl.warc import iter_pages
    from webrecall.core.model.calibration import calibrate_margin, cascade_keeps
    from webrecall.core.page import Stats
    from webrecall.core.settings import Settings
    from webrecall.core.text.extract import extract

    settings, start = Settings(), time.perf_counter()
    labels, bench = read_labels(corpus, "CC-MAIN-DEV"), read_labels(corpus, "CC-MAIN-BENCH")
    urls: list[str] = []
    fast: list[str] = []
    full: list[str] = []
    for path in warc_files(corpus, "CC-MAIN-DEV"):
        with open(path, "rb") as fh:
            for page in iter_pages(fh, warc_path=path, stats=Stats()):
                if page.url in labels and page.url not in bench:
                    urls.append(page.url)
                    fast.append(extract(page.html, settings.score_extractor))
                    full.append(extract(page.html, settings.text_extractor))
    scores = [[], []]  # type: ignore[var-annotated]
    for k, model in enumerate(models):
        clf = load_model(model)
        scores[k] = [clf.score(fast).tolist(), clf.score(full).tolist()]
    by = [judge(u) for u in urls]
    fast_oof = [scores[m][0][i] for i, m in enumerate(by)]
    full_oof = [scores[m][1][i] for i, m in enumerate(by)]
    ys = [labels[u] for u in urls]
    result = calibrate_margin(fast_oof, full_oof, ys, threshold=THRESHOLD, target=TARGET_KEPT)
    cascade = cascade_keeps(np.array(fast_oof), np.array(full_oof), threshold=THRESHOLD, margin=result.margin)
    truth = dict(zip(urls, ys, strict=True))
    heldout = {  # F1 on these held-out pages: the plain decision (trafilatura text) vs the cascade's
        "plain": quality([u for u, s in zip(urls, full_oof, strict=True) if s >= THRESHOLD], truth),
        "cascade": quality([u for u, k in zip(urls, cascade, strict=True) if k], truth),
    }
    data = {**result.as_dict(), "target": TARGET_KEPT, "heldout": heldout,
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    print(f"model: cascade margin {result.margin} calibrated on {len(urls)} held-out DEV pages", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data


FIDELITY_EXTRACTORS = ("resiliparse", "resiliparse-unfenced", "trafilatura", "datatrove-trafilatura")


def _fidelity_text(name: str, html: str) -> str:
    """The text each extractor keeps: ours fenced (the default), ours as exported without fences, trafilatura as
    `webrecall.core.text.extract` calls it (the old kept text) and as datatrove's `Trafilatura()` step calls it."""
    from webrecall.core.text.extract import extract, unfence

    if name == "resiliparse-unfenced":
        return unfence(extract(html, "resiliparse"))
    if name == "datatrove-trafilatura":
        import trafilatura

        return trafilatura.extract(html, favor_precision=True, include_images=False, deduplicate=True) or ""
    return extract(html, name)


def fidelity(corpus: Path) -> dict:
    """Code blocks verbatim / present (core.text.fidelity) on DEV code pages with indented <pre> blocks, and the
    template-line share on docs sites' pages, per extractor; cached by the extraction and measuring code."""
    key = _sha(*(ROOT / "webrecall/core/text" / f for f in ("extract.py", "fidelity.py")))[:16]
    out = CACHE / f"fidelity-{key}.json"
    if out.exists():
        return json.loads(out.read_text(encoding="utf-8"))
    from webrecall.core.crawl.warc import iter_pages
    from webrecall.core.page import Stats
    from webrecall.core.text.extract import parse
    from webrecall.core.text.fidelity import CodeCounts, code_blocks, code_counts, template_share

    rows = [json.loads(line) for line in (corpus / "labels" / "CC-MAIN-DEV.jsonl").open(encoding="utf-8")]
    order = {r["url"]: hashlib.sha1(r["url"].encode()).hexdigest() for r in rows}
    site_of = {r["url"]: r["url"].split("/")[2] for r in rows}
    docs_sites: dict[str, list[str]] = {}
    for r in rows:
        if r["kind"] == "docs":
            docs_sites.setdefault(site_of[r["url"]], []).append(r["url"])
    big = sorted((s for s, us in docs_sites.items() if len(us) >= FIDELITY_SITE_PAGES),
                 key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:FIDELITY_SITES]  # fmt: skip
    template_urls = {u for s in big for u in sorted(docs_sites[s], key=order.__getitem__)[:FIDELITY_SITE_PAGES]}
    code_urls = {r["url"] for r in rows if r["label"] == "code"}
    code_pages: list[tuple[str, str, list]] = []
    template_pages: list[tuple[str, str]] = []
    for path in warc_files(corpus, "CC-MAIN-DEV"):
        with open(path, "rb") as fh:
            for page in iter_pages(fh, warc_path=path, stats=Stats()):
                if page.url in template_urls:
                    template_pages.append((page.url, page.html))
                if page.url in code_urls and "<pre" in page.html:
                    blocks = code_blocks(parse(page.html))
                    if blocks:
                        code_pages.append((page.url, page.html, blocks))
    code_pages = sorted(code_pages, key=lambda p: order[p[0]])[:FIDELITY_CODE_PAGES]
    result: dict = {"code_pages": len(code_pages), "template_pages": len(template_pages), "template_sites": big}
    for name in FIDELITY_EXTRACTORS:
        counts, spent, chars = CodeCounts(), 0.0, 0
        for _, html, blocks in code_pages:
            start = time.perf_counter()
            text = _fidelity_text(name, html)
            spent += time.perf_counter() - start
            counts += code_counts(blocks, text)
        texts = []
        for url, html in template_pages:
            start = time.perf_counter()
            texts.append((site_of[url], _fidelity_text(name, html)))
            spent += time.perf_counter() - start
            chars += len(texts[-1][1])
        share, lines = template_share(texts)
        result[name] = {
            "blocks": counts.blocks, "verbatim": counts.verbatim / max(counts.blocks, 1),
            "present": counts.present / max(counts.blocks, 1), "template_share": share, "template_lines": lines,
            "chars_per_page": chars / max(len(template_pages), 1),
            "ms_per_page": 1000 * spent / max(len(code_pages) + len(template_pages), 1),
        }  # fmt: skip
        print(f"model: fidelity of {name} measured", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


# -- the children: one pipeline each, in a fresh process pinned to one core ----------------------------------


def _pin() -> int | None:
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return core
    except (AttributeError, OSError):
        return None


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _hwm_mb() -> float | None:
    """VmHWM: this process's own peak, a cross-check (ru_maxrss also counts the parent's RSS at fork)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), None)


def _decode(body: bytes) -> str | None:
    """As datatrove's WarcReader: UTF-8, else a detected charset, else drop the page."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(body).best()
        return str(best) if best is not None else None


def _peaks() -> dict:
    return {"peak_rss_mb": _peak_rss_mb(), "vmhwm_mb": _hwm_mb()}


def baseline_pass(path: str, clf) -> tuple[int, list[tuple[str, str]], list[float]]:
    """The timed baseline with one model: (pages, (url, trafilatura text) per page, score per page)."""
    from warcio.archiveiterator import ArchiveIterator

    from webrecall.core.text.extract import extract

    pages, docs, scores = 0, [], []

    def flush() -> None:
        scores.extend(clf.score([text for _, text in docs[len(scores) :]]).tolist())

    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "response":
                continue
            ctype = (record.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in HTML_TYPES:
                continue
            html = _decode(record.content_stream().read())
            if html is None:
                continue
            pages += 1
            docs.append((record.rec_headers.get_header("WARC-Target-URI"), extract(html, "trafilatura")))
            if len(docs) - len(scores) >= SCORE_BATCH:
                flush()
    flush()
    return pages, docs, scores


def best_of(repeat: int, fn: Callable[[], tuple]) -> tuple[float, tuple]:
    best, out = float("inf"), ()
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def raw_pass(path: str) -> int:
    from fastwarc.warc import ArchiveIterator

    records = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, parse_http=True, verify_digests=False):
            record.reader.read()
            records += 1
    return records


def run_raw(warc: str, repeat: int) -> dict:
    seconds, records = best_of(repeat, lambda: raw_pass(warc))
    return {"pages": records, "unit": "records", "seconds": seconds, **_peaks()}


def datatrove_pass(warc: str, model: Path, work: Path) -> tuple[int, set[str], dict]:
    """datatrove's own pipeline, its defaults: (documents read, URLs written, its stats per step)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import FastTextClassifierFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    # datatrove checks for the pip distribution `fasttext-numpy2-wheel`; webrecall's is `fasttext-numpy2` (the same
    # `fasttext` module): only that name check is changed, the filter is datatrove's own
    FastTextClassifierFilter._requires_dependencies = [("fasttext", "fasttext-numpy2"), "fasteners"]
    out = work / "out"
    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(data_folder=str(Path(warc).parent), glob_pattern=Path(warc).name),
            Trafilatura(),
            FastTextClassifierFilter(model_url=str(model), keep_labels=[("code", THRESHOLD)]),
            JsonlWriter(str(out)),
        ],
        tasks=1, workers=1, logging_dir=str(work / "logs"),
    )  # fmt: skip
    executor.run()
    urls: set[str] = set()
    import gzip

    for path in out.glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            urls.update(json.loads(line)["metadata"]["url"] for line in fh)
    stats = json.loads((work / "logs" / "stats.json").read_text(encoding="utf-8"))
    steps = {step["name"]: step.get("stats", {}) for step in stats} if isinstance(stats, list) else {}
    read = next((v.get("documents", 0) for k, v in steps.items() if "WARC" in k or "Warc" in k), 0)
    return int(read.get("total", 0) if isinstance(read, dict) else read), urls, steps


def run_datatrove(warc: str, models: tuple[Path, ...], repeat: int) -> dict:
    try:
        import datatrove  # noqa: F401
    except ImportError:
        return {"skipped": "datatrove is not installed: pip install -e '.[bench]'"}
    plain = [plain_model(m) for m in models]
    best, kept_a, pages, steps = float("inf"), set(), 0, {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="webrecall-bench-dt-") as tmp:
            start = time.perf_counter()
            pages, kept_a, steps = datatrove_pass(warc, plain[0], Path(tmp))
            best = min(best, time.perf_counter() - start)
    peaks = _peaks()
    with tempfile.TemporaryDirectory(prefix="webrecall-bench-dt-") as tmp:  # untimed: model B, the other fold
        _, kept_b, _ = datatrove_pass(warc, plain[1], Path(tmp))
    kept = sorted({u for u in kept_a if judge(u) == 0} | {u for u in kept_b if judge(u) == 1})
    return {
        "pages": pages, "unit": "pages", "seconds": best, "kept_urls": kept,
        "kept_by_model": [len(kept_a), len(kept_b)],
        "datatrove_stats": steps, "model": [str(p) for p in plain], **peaks,
    }  # fmt: skip


def run_baseline(warc: str, models: tuple[Path, ...], repeat: int) -> dict:
    model_a = load_model(models[0])
    rss_model = _rss_mb()
    seconds, (pages, docs, scores_a) = best_of(repeat, lambda: baseline_pass(warc, model_a))
    peaks = _peaks()  # before model B: the production-like footprint (the texts are kept for B: `texts_mb`)
    model_b = load_model(models[1])  # untimed: the out-of-fold judge of fold-0 pages
    texts = [text for _, text in docs]
    scores_b = np.concatenate(
        [model_b.score(texts[i : i + SCORE_BATCH]) for i in range(0, len(texts), SCORE_BATCH)] or [np.zeros(0)]
    ).tolist()
    by_model = (scores_a, scores_b)
    kept = [url for i, (url, _) in enumerate(docs) if by_model[judge(url)][i] >= THRESHOLD]
    oof = {url: {"score": round(by_model[judge(url)][i], 4), "text_len": len(texts[i])}
           for i, (url, _) in enumerate(docs)}  # fmt: skip
    return {
        "oof_scores": oof,
        "pages": pages, "unit": "pages", "seconds": seconds, "rss_model_mb": rss_model, "kept_urls": kept,
        "kept_by_model": [sum(s >= THRESHOLD for s in scores) for scores in by_model],
        "texts_mb": sum(len(t) for t in texts) / 2**20, **peaks,
        "peak_rss_final_mb": _peak_rss_mb(),
    }  # fmt: skip


def oof_scores(store) -> dict[str, dict]:
    """Per URL: the out-of-fold score (round 1 = model A, round 3 = model B) and the cached text's length."""
    scores: list[dict[str, float]] = [{}, {}]
    lengths: dict[str, int] = {}
    for k, rnd in enumerate((1, 3)):
        for rel in store.list(f"rounds/{rnd}/index"):
            table = store.read_table(rel, columns=["url", "score", "text_len"])
            scores[k].update(zip(table["url"].to_pylist(), table["score"].to_pylist(), strict=True))
            lengths.update(zip(table["url"].to_pylist(), table["text_len"].to_pylist(), strict=True))
    return {u: {"score": round(scores[judge(u)][u], 4), "text_len": lengths[u]} for u in scores[0]}


def round_kept(store, round_no: int) -> tuple[dict[str, bool], set[str]]:
    """A round's `kept` per URL from its page index (rounds/<n>/index/*.parquet), and the URLs of its pages."""
    kept: dict[str, bool] = {}
    for rel in store.list(f"rounds/{round_no}/index"):
        table = store.read_table(rel, columns=["url", "kept"])
        kept.update(zip(table["url"].to_pylist(), table["kept"].to_pylist(), strict=True))
    pages: set[str] = set()
    for rel in store.list(f"rounds/{round_no}/pages"):
        pages.update(store.read_table(rel, columns=["url"])["url"].to_pylist())
    return kept, pages


def run_ours(warc: str, models: tuple[Path, ...], repeat: int, margin: float, text_extractor: str) -> dict:
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import Decision, index_warc, recall_warc
    from webrecall.core.storage.store import Store

    model_a = load_model(models[0])  # one model in the timed process, as in production
    rss_model = _rss_mb()
    decision = Decision(threshold=THRESHOLD, margin=margin if text_extractor != "resiliparse" else 0.0)
    kw = {"text_extractor": text_extractor}
    best: dict = {"seconds": float("inf")}
    round2: dict = {"round2_seconds": float("inf")}
    kept_round1: list[dict[str, bool]] = []
    tmp = None
    for rep in range(repeat):
        tmp = tempfile.TemporaryDirectory(prefix="webrecall-bench-ours-")
        store, stats, recall_stats = Store(tmp.name), Stats(), Stats()
        start = time.perf_counter()
        index_warc(warc, store=store, stats=stats)
        indexed = time.perf_counter()
        recall_warc(warc, round_no=1, store=store, classifier=model_a, decision=decision, stats=recall_stats, **kw)
        end = time.perf_counter()
        if end - start < best["seconds"]:
            best = {
                "seconds": end - start, "index_seconds": indexed - start, "recall_seconds": end - indexed,
                "pages": stats["html_pages"], "stats": {"index": stats.as_dict(), "recall": recall_stats.as_dict()},
            }  # fmt: skip
        # round 2: the same model (the loop keeps round 1's tokenizer), from the cache only: the WARC is not
        # re-read, token lines come from the token cache, kept texts of round 1 are reused by offset
        round2_stats = Stats()
        start = time.perf_counter()
        recall_warc(warc, round_no=2, store=store, classifier=model_a, decision=decision, stats=round2_stats, **kw)
        seconds2 = time.perf_counter() - start
        if seconds2 < round2["round2_seconds"]:
            round2 = {"round2_seconds": seconds2, "round2_stats": round2_stats.as_dict()}
        kept_round1.append(round_kept(store, 1)[0])
        if rep < repeat - 1:
            tmp.cleanup()
    peaks = _peaks()  # before model B: one model loaded, as in production
    # untimed, on the last run's store: model B (never saw fold 0) decides the fold-0 pages; a new tokenizer,
    # so it tokenizes afresh (the token cache is keyed by tokenizer id)
    model_b = load_model(models[1])
    round3_stats = Stats()
    recall_warc(warc, round_no=3, store=store, classifier=model_b, decision=decision, stats=round3_stats, **kw)
    by_model = (round_kept(store, 1), round_kept(store, 3))  # (model A, model B)
    oof = oof_scores(store)
    round2_kept = round_kept(store, 2)[0]
    tmp.cleanup()
    kept = sorted(url for url in by_model[0][0] if by_model[judge(url)][0][url])
    return {
        **best, **round2, "unit": "pages", "rss_model_mb": rss_model, "margin": decision.margin,
        "kept_urls": kept, "kept_by_model": [sum(k.values()) for k, _ in by_model],
        # the index's kept vs the URLs of the round's pages shard (differ only if a kept record failed to refetch)
        "index_vs_pages_mismatch": [len({u for u, k in kk.items() if k} ^ pp) for kk, pp in by_model],
        "round1_stable": all(k == kept_round1[0] for k in kept_round1),
        "round2_same_as_round1": round2_kept == by_model[0][0], "round3_stats": round3_stats.as_dict(),
        "model_tokenizers_differ": model_a.tokenizer.id != model_b.tokenizer.id, "text_extractor": text_extractor,
        "oof_scores": oof,
        **peaks, "peak_rss_final_mb": _peak_rss_mb(),
    }  # fmt: skip


def child(
    name: str, corpus: Path, models: tuple[Path, ...] | None, repeat: int, margin: float, text_extractor: str
) -> dict:
    if name == "train":  # its own process too, so the parent stays small when it forks the others
        return {"models": [str(m) for m in ensure_models(corpus)]}
    if name == "calibrate":
        return calibrate(corpus, models or ensure_models(corpus))
    if name == "fidelity":
        return fidelity(corpus)
    core = _pin()
    warc = warc_files(corpus, "CC-MAIN-BENCH")[0]
    if name == "raw":
        result = run_raw(warc, repeat)
    elif name == "baseline":
        result = run_baseline(warc, models or ensure_models(corpus), repeat)
    elif name == "datatrove":
        result = run_datatrove(warc, models or ensure_models(corpus), repeat)
    else:
        result = run_ours(warc, models or ensure_models(corpus), repeat, margin, text_extractor)
    return {**result, "pinned_core": core}


# -- the parent: spawn, compare, print ---------------------------------------------------------------------------


def spawn(
    name: str, corpus: Path, models: tuple[Path, ...], repeat: int, margin: float = 0.0,
    text_extractor: str = "resiliparse",
) -> dict:  # fmt: skip
    cmd = [sys.executable, __file__, "--only", name, "--json", "--corpus", str(corpus), "--models", *map(str, models)]
    cmd += ["--margin", str(margin), "--text-extractor", text_extractor]
    print(f"running {name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([*cmd, "--repeat", str(repeat)], capture_output=True, text=True, cwd=ROOT)
    sys.stderr.write("".join(line for line in proc.stderr.splitlines(True) if line.startswith("model:")))
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def quality(kept: list[str], labels: dict[str, bool]) -> dict:
    from webrecall.core.model.scoring import precision_recall_f1

    kept_set = set(kept)
    tp = sum(labels.get(u, False) for u in kept_set)
    positives = sum(labels.values())
    precision, recall, f1 = precision_recall_f1(tp, len(kept_set) - tp, positives - tp)  # unlabelled kept count as fp
    unlabelled = sum(u not in labels for u in kept_set)
    return {"f1": f1, "precision": precision, "recall": recall, "kept": len(kept_set), "unlabelled_kept": unlabelled}


def report(rows: dict[str, dict], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    table = Table(title=f"CC-MAIN-BENCH, one core per pipeline, best of {summary['repeat']}")
    for col in ("", "pages", "seconds", "pages/s per core", "x baseline", "peak RSS MB", "RSS, model A loaded MB"):
        table.add_column(col, justify="left" if not col else "right")
    for col in ("F1 (OOF)", "precision", "recall", "kept"):
        table.add_column(col, justify="right")
    base_rate = rows["baseline"]["per_core"]
    labels = (("baseline", "baseline (warcio+trafilatura)"), ("datatrove", "datatrove (its pipeline)"),
              ("ours", f"ours ({summary['text_extractor']} kept text)"), ("raw", "raw read (records/s)"))  # fmt: skip
    for name, label in labels:
        if name not in rows:
            table.add_row(label, "not installed: pip install -e '.[bench]'")
            continue
        row = rows[name]
        table.add_row(
            label, str(row["pages"]), num(row["seconds"], ".2f"), num(row["per_core"], ",.1f"),
            num(row["per_core"] / base_rate, ".1f"), num(row["peak_rss_mb"], ".0f"),
            num(row.get("rss_model_mb"), ".0f"),
            num(row.get("f1"), ".3f"), num(row.get("precision"), ".3f"), num(row.get("recall"), ".3f"),
            num(row.get("kept"), "d"),
        )  # fmt: skip
    console = Console(width=max(Console().width, 132))
    console.print(table)
    fid = summary["fidelity"]
    ftable = Table(
        title=f"Fidelity on CC-MAIN-DEV: {fid['code_pages']} code pages with indented <pre> blocks; "
        f"template lines on {fid['template_pages']} docs pages of {len(fid['template_sites'])} sites"
    )
    for col in ("extractor", "blocks", "verbatim", "present", "template lines", "chars/page", "ms/page"):
        ftable.add_column(col, justify="left" if col == "extractor" else "right")
    for name in FIDELITY_EXTRACTORS:
        f = fid[name]
        ftable.add_row(
            name,
            str(f["blocks"]),
            f"{f['verbatim']:.1%}",
            f"{f['present']:.1%}",
            f"{f['template_share']:.2%}",
            f"{f['chars_per_page']:,.0f}",
            f"{f['ms_per_page']:.1f}",
        )
    console.print(ftable)
    agree, ours = summary["agreement"], rows["ours"]
    r1, r2 = ours["stats"]["recall"], ours["round2_stats"]
    dt = summary["ratio_ours_vs_datatrove"]
    blocks = r1.get("kept_code_blocks", 0)
    console.print(
        f"ours/baseline pages/s: [bold]{summary['ratio_ours_vs_baseline']:.1f}x[/]   ours/datatrove: "
        f"[bold]{num(dt, '.1f')}x[/]   ours index {ours['index_seconds']:.2f}s + recall {ours['recall_seconds']:.2f}s\n"
        f"ours' kept pages (round 1, model A): {r1.get('kept', 0)}, their indented <pre> blocks {blocks}, verbatim "
        f"{r1.get('kept_code_verbatim', 0) / max(blocks, 1):.1%}, "
        f"present {r1.get('kept_code_present', 0) / max(blocks, 1):.1%}"
        f"; range reads {r1.get('range_reads', 0)}\n"
        f"round 2 (recall_warc from the cache): {summary['round2_seconds']:.2f}s, "
        f"[bold]{summary['round2_speedup']:.1f}x[/] faster than round 1 (same model A, so its tokenizer: "
        f"token cache hit {r2.get('token_cache_hit', 0)}, {r2.get('text_reused', 0)} kept texts reused, "
        f"{r2.get('range_reads', 0)} range reads, {r2.get('cascade_rescored', 0)} cascade re-scored)\n"
        f"agreement |ours ∩ base| / |base| = {agree['ours_in_base']:.3f} "
        f"({agree['base_kept']} base, {agree['ours_kept']} ours, {agree['ours_only']} ours only)\n"
        f"baseline's kept code pages also kept by ours: [bold]{agree['base_code_kept_by_ours_n']} of "
        f"{agree['base_code']}[/] ({agree['base_code_kept_by_ours']:.1%}); labelled code pages kept by one only: "
        f"{len(agree['code_base_only_urls'])} base only, {len(agree['code_ours_only_urls'])} ours only"
    )
    for lost in agree["lost_code_pages"]:
        b, o = lost["baseline"], lost["ours"] or {}
        console.print(
            f"  lost: {lost['url']}  baseline score {b['score']:.3f} on {b['text_len']:,} chars of "
            f"trafilatura text; ours {o.get('score', float('nan')):.3f} on {o.get('text_len', 0):,} chars"
        )
    cal = summary["calibration"]
    cascade = (f"cascade margin {cal['margin_used']} (calibrated {cal['margin']} on {cal['pages']} held-out DEV pages)"
               if "margin" in cal else "no cascade (the kept text is the cached text)")  # fmt: skip
    load = summary["load"]
    console.print(
        f"out-of-fold: {summary['train_bench_overlap']} of {summary['bench_pages']} BENCH urls are DEV pages; "
        f"model A (fold 0) is timed, model B (fold 1) scores untimed; a fold-0 page is judged by B, a fold-1 page "
        f"by A ({FOLD_SCHEME}; BENCH pages per fold {summary['bench_per_fold']}), in every pipeline, so "
        f"F1/precision/recall are held out by host; peak RSS is measured before model B is loaded\n"
        f"{cascade}\n"
        f"machine load (1-min loadavg) {load['loadavg_1m_before']:.1f} before, {load['loadavg_1m_after']:.1f} after, "
        f"on {os.cpu_count()} cores: pages/s are comparable within one run only"
    )
    console.print(f"written {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per pipeline; the best time counts")
    parser.add_argument("--only", choices=STEPS, help="run one pipeline in this process (used by the parent)")
    parser.add_argument("--json", action="store_true", help="with --only: print the result as one JSON line")
    parser.add_argument(
        "--models", type=Path, nargs=FOLDS, help="fold model directories (default: train or reuse bench/.cache)"
    )
    parser.add_argument("--margin", type=float, default=None, help="cascade margin (default: calibrated)")
    parser.add_argument("--text-extractor", default="resiliparse", choices=("resiliparse", "trafilatura"),
                        help="ours' kept text: cached (default) or trafilatura (refetch + cascade)")  # fmt: skip
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    if not warc_files(corpus, "CC-MAIN-BENCH"):
        sys.exit(f"no CC-MAIN-BENCH WARC under {corpus}")
    if args.only:
        margin = args.margin if args.margin is not None else 0.0
        models_arg = tuple(args.models) if args.models else None
        result = child(args.only, corpus, models_arg, args.repeat, margin, args.text_extractor)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return

    models = model_dirs(corpus)
    spawn("train", corpus, models, 1)  # a no-op when bench/.cache already holds these models
    calibration: dict = {}
    margin = 0.0
    if args.text_extractor != "resiliparse":  # the cascade exists only for a kept text that is not the cached one
        calibration = spawn("calibrate", corpus, models, 1)  # cached beside the models
        margin = args.margin if args.margin is not None else calibration["margin"]
    fid = spawn("fidelity", corpus, models, 1)  # cached: re-measured only when the extraction code changes
    rows = {name: spawn(name, corpus, models, args.repeat, margin, args.text_extractor)
            for name in ROWS}  # sequential, never concurrent  # fmt: skip
    rows = {name: row for name, row in rows.items() if "skipped" not in row}
    labels = read_labels(corpus, "CC-MAIN-BENCH")
    for name in ("baseline", "datatrove", "ours"):
        if name in rows:
            rows[name].update(quality(rows[name]["kept_urls"], labels))
    for row in rows.values():
        row["per_core"] = row["pages"] / row["seconds"]
    base, ours = set(rows["baseline"]["kept_urls"]), set(rows["ours"]["kept_urls"])
    base_code = {u for u in base if labels.get(u)}
    code = {u for u, is_code in labels.items() if is_code}
    lost = sorted((base_code - ours), key=lambda u: -rows["baseline"]["oof_scores"][u]["score"])
    agreement = {
        "ours_in_base": len(ours & base) / len(base) if base else 1.0,
        "base_code_kept_by_ours": len(ours & base_code) / len(base_code) if base_code else 1.0,
        "base_kept": len(base), "ours_kept": len(ours), "base_code": len(base_code), "ours_only": len(ours - base),
        "base_code_kept_by_ours_n": len(ours & base_code),
        "base_only_urls": sorted(base - ours), "ours_only_urls": sorted(ours - base),
        "code_base_only_urls": sorted((base - ours) & code), "code_ours_only_urls": sorted((ours - base) & code),
        # why a baseline code page is lost: its out-of-fold score and text length in each pipeline
        "lost_code_pages": [{"url": u, "baseline": rows["baseline"]["oof_scores"][u],
                             "ours": rows["ours"]["oof_scores"].get(u)} for u in lost],
    }  # fmt: skip
    for name in ("baseline", "ours"):
        rows[name].pop("oof_scores")
    summary = {
        "repeat": args.repeat,
        "ratio_ours_vs_baseline": rows["ours"]["per_core"] / rows["baseline"]["per_core"],
        "ratio_ours_vs_datatrove": (rows["ours"]["per_core"] / rows["datatrove"]["per_core"]
                                    if "datatrove" in rows else None),  # fmt: skip
        "round2_seconds": rows["ours"]["round2_seconds"],
        "round2_speedup": rows["ours"]["seconds"] / rows["ours"]["round2_seconds"],
        "agreement": agreement,
        "train_bench_overlap": len(labels.keys() & read_labels(corpus, "CC-MAIN-DEV").keys()),
        "bench_pages": len(labels),
        "bench_per_fold": [sum(host_fold(u) == k for u in labels) for k in range(FOLDS)],
        "folds": FOLD_SCHEME, "text_extractor": args.text_extractor, "fidelity": fid,
        "load": {"loadavg_1m_before": LOAD_BEFORE, "loadavg_1m_after": os.getloadavg()[0]},
        "calibration": ({k: v for k, v in calibration.items() if k != "curve"} | {"margin_used": margin}
                        if calibration else {"margin_used": 0.0}),
        "calibration_curve": calibration.get("curve", []),
    }  # fmt: skip
    metas = [{"dir": str(m), **json.loads((m / "meta.json").read_text(encoding="utf-8"))} for m in models]
    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "corpus": str(corpus),
        "warc": warc_files(corpus, "CC-MAIN-BENCH")[0], "threshold": THRESHOLD, "score_batch": SCORE_BATCH,
        "models": metas, "rows": rows, **summary,
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)
    report(rows, summary)


LOAD_BEFORE = os.getloadavg()[0]

if __name__ == "__main__":
    main()
