"""The bench's WET-first row: CC-MAIN-BENCH scanned as a WET round scans a crawl, with out-of-fold pre-filters.

Untimed, cached in bench/.cache (generated data, never committed):
- `wet_crawl`: a crawl folder as Common Crawl publishes it, made from the corpus (its WARC files linked, read only):
  the WET files our writer makes (`webrecall.core.crawl.wetgen`), `wet.paths.gz` and the columnar URL index.
- `ensure_prefilters`: per DEV host fold k, the pre-filter trained on the WET text of the same labelled pages as
  model k, with its floor calibrated as a round calibrates it (`webrecall.core.model.prefilter.calibrate`: two host
  sub-folds of fold k, out-of-host scores, 99% of the pages model k keeps), for each WET view; the view the bench
  uses is the one whose floor passes the fewest BENCH-like pages (the DEV fold's own candidate share).

Timed (`run_wet`): `index_wet` (the WET file read into the WET cache) then `recall_wet` (pre-filter, lookups,
range fetches, extraction and model A on the candidates), pinned to one core; round 2 re-runs `recall_wet` from the
caches; model B, untimed, decides the fold-0 pages.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from folds import CACHE, ROOT, THRESHOLD, _sha, host_fold, judge, load_model, read_labels

VIEWS = ("head", "spread")
CRAWLS = ("CC-MAIN-DEV", "CC-MAIN-BENCH")


def _code_key() -> str:
    return _sha(*(ROOT / "webrecall/core" / f for f in ("crawl/wetgen.py", "text/wettext.py", "crawl/warc.py")))[:12]


def wet_crawl(corpus: Path) -> Path:
    """The corpus's crawls with WET files and a URL index, laid out as Common Crawl's (cached)."""
    from webrecall.core.crawl.ccindex import build_index
    from webrecall.core.crawl.wetgen import build_wet

    root = CACHE / f"wet-crawl-{_code_key()}"
    done = root / ".complete"
    if done.exists():
        return root
    start = time.perf_counter()
    build_index(corpus, root, crawls=list(CRAWLS), languages=False)
    build_wet(corpus, root, crawls=list(CRAWLS))
    for crawl in CRAWLS:
        src, dst = corpus / "crawl-data" / crawl, root / "crawl-data" / crawl
        if not (dst / "warc.paths.gz").exists():
            (dst / "warc.paths.gz").symlink_to(src / "warc.paths.gz")
        for seg in (src / "segments").iterdir():
            (dst / "segments" / seg.name).mkdir(parents=True, exist_ok=True)
            if not (dst / "segments" / seg.name / "warc").exists():
                (dst / "segments" / seg.name / "warc").symlink_to(seg / "warc")
    done.write_text(str(time.time()))
    print(f"model: WET files and URL index of {', '.join(CRAWLS)} written in {time.perf_counter() - start:.0f}s",
          file=sys.stderr)  # fmt: skip
    return root


def crawl_warcs(root: Path, crawl: str) -> list[str]:
    return sorted(str(p) for p in (root / "crawl-data" / crawl).glob("segments/*/warc/*.warc.gz"))


def _wet_texts(root: Path, crawl: str) -> dict[str, str]:
    from webrecall.core.crawl.listing import wet_location
    from webrecall.core.crawl.wet import iter_wet
    from webrecall.core.page import Stats

    out: dict[str, str] = {}
    for warc in crawl_warcs(root, crawl):
        with open(wet_location(warc), "rb") as fh:
            out.update((d.url, d.text) for d in iter_wet(fh, wet_path=warc, stats=Stats()))
    return out


def ensure_prefilters(corpus: Path, models: tuple[Path, ...]) -> dict:
    """Per fold and view: the pre-filter's directory and its calibration (cached by the models and the code)."""
    key = hashlib.sha256(json.dumps([m.name for m in models] + [_code_key(), _sha(
        *(ROOT / "webrecall/core" / f for f in ("model/prefilter.py", "model/classifier.py")))]).encode()
    ).hexdigest()[:16]  # fmt: skip
    out_file = CACHE / f"prefilters-{key}.json"
    if out_file.exists():
        return json.loads(out_file.read_text(encoding="utf-8"))
    from webrecall.core.model import prefilter
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import index_warc
    from webrecall.core.settings import Settings
    from webrecall.core.storage.store import Store
    from webrecall.core.text.features import spec, with_signals

    settings, labels = Settings(), read_labels(corpus, "CC-MAIN-DEV")
    root = wet_crawl(corpus)
    wet = _wet_texts(root, "CC-MAIN-DEV")
    main: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="webrecall-bench-wet-") as tmp:
        store = Store(tmp)
        for path in crawl_warcs(root, "CC-MAIN-DEV"):
            table = store.read_table(index_warc(path, store=store, stats=Stats()), columns=["url", "text", "signals"])
            for u, t, s in zip(*(table[c].to_pylist() for c in ("url", "text", "signals")), strict=True):
                if u in labels:
                    main[u] = with_signals(t, s)
    signals = spec(settings.code_signal_repeat) if settings.code_signal_repeat else None
    result: dict = {"folds": []}
    for k, model_dir in enumerate(models):
        clf = load_model(model_dir)
        urls = [u for u in labels if host_fold(u) == k and u in wet and u in main and wet[u].strip()]
        ys = [labels[u] for u in urls]
        kept = (clf.score([main[u] for u in urls]) >= THRESHOLD).tolist()
        fold: dict = {"pages": len(urls), "views": {}}
        for view in VIEWS:
            start = time.perf_counter()
            cal = prefilter.calibrate(urls, [wet[u] for u in urls], ys, kept, params=settings.ft,
                                      vocab_size=settings.bpe_vocab_size, mode=view,
                                      recall=settings.wet_floor_recall, cap=THRESHOLD, signals=signals)  # fmt: skip
            pre = prefilter.train([wet[u] for u in urls], ys, params=settings.ft, vocab_size=settings.bpe_vocab_size,
                                  version=f"{model_dir.name}-pre-{view}", mode=view, signals=signals)  # fmt: skip
            out = CACHE / f"prefilter-{key}-fold{k}-{view}"
            pre.save(out)
            fold["views"][view] = {"dir": str(out), **cal.as_dict(), "seconds": round(time.perf_counter() - start)}
            print(f"model: pre-filter fold {k} {view}: floor {cal.floor:.4f} ({cal.passing}/{cal.kept} kept pages "
                  f"pass)", file=sys.stderr)  # fmt: skip
        result["folds"].append(fold)
    # the view: the one whose calibrated floors let through fewer of the pages the model does not keep (the fetches
    # that buy nothing: most of a crawl's candidates where code is rare), on DEV folds, never on BENCH
    share = {v: sum(f["views"][v]["others"] for f in result["folds"]) / len(result["folds"]) for v in VIEWS}
    result["view"] = min(VIEWS, key=lambda v: share[v])
    result["view_candidate_share"] = share
    out_file.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def run_wet(corpus: Path, models: tuple[Path, ...], prefilters: dict, repeat: int) -> dict:
    from pipelines import _peaks, _rss_mb, oof_scores, round_kept, timed_rounds

    from webrecall.core.crawl.ccindex import CaptureIndex
    from webrecall.core.crawl.listing import wet_location
    from webrecall.core.model.classifier import Classifier
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import Decision
    from webrecall.core.pipeline.wetscan import index_wet, recall_wet

    root = wet_crawl(corpus)
    warc = crawl_warcs(root, "CC-MAIN-BENCH")[0]
    view = prefilters["view"]
    sets = [(load_model(m), Classifier.load(f["views"][view]["dir"]), f["views"][view]["floor"])
            for m, f in zip(models, prefilters["folds"], strict=True)]  # fmt: skip
    index = CaptureIndex("CC-MAIN-BENCH", str(root))
    decision = Decision(threshold=THRESHOLD)
    rss_model = _rss_mb()
    model_a, pre_a, floor_a = sets[0]
    best, round2, tmp, store = timed_rounds(
        repeat, "webrecall-bench-wet-", lambda st, stats: index_wet(warc, store=st, stats=stats),
        lambda st, n, stats: recall_wet(warc, round_no=n, store=st, prefilter=pre_a, floor=floor_a, mode=view,
                                        scorer=model_a, decision=decision, stats=stats, index=index),
    )  # fmt: skip
    peaks = _peaks()
    model_b, pre_b, floor_b = sets[1]
    round3 = Stats()
    recall_wet(warc, round_no=3, store=store, prefilter=pre_b, floor=floor_b, mode=view, scorer=model_b,
               decision=decision, stats=round3, index=index)  # fmt: skip
    by_model = (round_kept(store, 1), round_kept(store, 3))
    oof = oof_scores(store)
    prescored = _prescores(store)
    tmp.cleanup()
    kept = sorted(url for url in by_model[0][0] if by_model[judge(url)][0][url])
    r1 = best["stats"]["recall"]
    wet_bytes = Path(wet_location(warc)).stat().st_size
    read_bytes = wet_bytes + r1.get("range_bytes", 0) + r1.get("lookup_bytes", 0)
    return {
        **best, **round2, "unit": "pages", "rss_model_mb": rss_model, "kept_urls": kept, "oof_scores": oof,
        "view": view, "floors": [floor_a, floor_b], "round3_stats": round3.as_dict(), "candidates_oof": prescored,
        "bytes": {"wet": wet_bytes, "ranges": r1.get("range_bytes", 0), "index": r1.get("lookup_bytes", 0),
                  "total": read_bytes, "warc_file": Path(warc).stat().st_size},
        "candidate_share": r1.get("candidates", 0) / max(r1.get("total", 1), 1), **peaks,
    }  # fmt: skip


def _prescores(store) -> dict[str, bool]:
    """Per URL of round 1 and 3: whether it was a candidate (has a record in the index: it was looked up)."""
    out: dict[str, bool] = {}
    for k, rnd in enumerate((1, 3)):
        for rel in store.list(f"rounds/{rnd}/index"):
            table = store.read_table(rel, columns=["url", "offset"])
            for u, o in zip(table["url"].to_pylist(), table["offset"].to_pylist(), strict=True):
                if judge(u) == k:
                    out[u] = o >= 0
    return out
