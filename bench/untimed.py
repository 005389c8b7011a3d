"""The bench's untimed, cached steps: the cascade margin calibrated on held-out DEV pages, and the fidelity of
each extractor's text (code blocks verbatim / present, template-line share)."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from folds import CACHE, ROOT, THRESHOLD, _sha, judge, load_model, quality, read_labels, warc_files

FIDELITY_CODE_PAGES = 150  # DEV code pages with indented <pre> blocks, the first by sha1(url)
FIDELITY_SITES, FIDELITY_SITE_PAGES = 10, 25  # docs sites x pages for the template-line share
TARGET_KEPT = 0.99  # issue 8: keep >= 99% of the baseline's kept code pages

def calibrate(corpus: Path, models: tuple[Path, ...]) -> dict:
    """The cascade margin, calibrated on held-out labels: the DEV pages that are not BENCH pages, each scored on its
    resiliparse and its trafilatura text by the model that never saw its host (`webrecall.core.model.calibration`)."""
    out = CACHE / f"calibration-v3-{models[0].name}-t{TARGET_KEPT}.json"
    if out.exists():
        return json.loads(out.read_text(encoding="utf-8"))
    from webrecall.core.model.calibration import calibrate_margin, cascade_keeps, labelled_texts
    from webrecall.core.settings import Settings

    settings, start = Settings(), time.perf_counter()
    labels, bench = read_labels(corpus, "CC-MAIN-DEV"), read_labels(corpus, "CC-MAIN-BENCH")
    held_out = {u: y for u, y in labels.items() if u not in bench}
    urls, fast, full, ys = labelled_texts(warc_files(corpus, "CC-MAIN-DEV"), held_out,
                                          fast_extractor=settings.score_extractor,
                                          full_extractor=settings.text_extractor)  # fmt: skip
    scores = [[], []]  # type: ignore[var-annotated]
    for k, model in enumerate(models):
        clf = load_model(model)
        scores[k] = [clf.score(fast).tolist(), clf.score(full).tolist()]
    by = [judge(u) for u in urls]
    fast_oof = [scores[m][0][i] for i, m in enumerate(by)]
    full_oof = [scores[m][1][i] for i, m in enumerate(by)]
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


