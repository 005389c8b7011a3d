"""Calibrate the cascade's margin on held-out labelled pages.

The cascade scores every page on its fast (resiliparse) text and re-scores on the trafilatura text only the
pages whose fast score lies in [threshold - margin, threshold). The plain pipeline decides on the trafilatura
text alone. The margin is the smallest one with which the cascade keeps at least `target` of the labelled code
pages that the plain pipeline keeps; its cost is the share of pages in the band (each costs a trafilatura run).

Run it on labelled pages the model never trained on, with the model the round will use
(`webrecall calibrate`), and set `WEBRECALL_CASCADE_MARGIN` to the result.

The cascade only exists for rounds whose kept text is trafilatura's (`WEBRECALL_TEXT_EXTRACTOR=trafilatura`):
with the default kept text, the cached text the page was scored on, a re-score would change nothing and the
round records margin 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from webrecall.core.crawl.sources import open_stream
from webrecall.core.crawl.warc import iter_pages
from webrecall.core.model.scorer import Scorer
from webrecall.core.page import Stats
from webrecall.core.text.extract import DEFAULT, extract
from webrecall.core.text.features import page_text, with_signals


@dataclass(frozen=True)
class Calibration:
    margin: float
    """The smallest margin on the grid that reaches the target."""
    kept_share: float
    """Of the code pages the plain pipeline keeps, the share the cascade keeps at this margin."""
    rescored_share: float
    """Share of all pages inside the band: re-scored on their trafilatura text."""
    reference_pages: int
    """Labelled code pages the plain (trafilatura-text) decision keeps: the denominator of `kept_share`."""
    pages: int
    curve: list[dict[str, float]] = field(default_factory=list)
    """`kept_share` and `rescored_share` per margin of the grid, for the operator to trade cost for recall."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cascade_keeps(fast: np.ndarray, full: np.ndarray, *, threshold: float, margin: float) -> np.ndarray:
    """The cascade's decision: kept on the fast score, or in the band and kept on the trafilatura score."""
    return (fast >= threshold) | ((fast >= threshold - margin) & (full >= threshold))


def calibrate_margin(
    fast: Iterable[float], full: Iterable[float], labels: Iterable[bool], *,
    threshold: float = 0.5, target: float = 0.99, step: float = 0.05,
) -> Calibration:  # fmt: skip
    """Smallest margin (a multiple of `step`, at most `threshold`) reaching `target`; ValueError if unmeasurable."""
    f, t, y = (np.asarray(list(v), dtype=np.float64) for v in (fast, full, labels))
    if not len(f) == len(t) == len(y):
        raise ValueError(f"fast, full and labels differ in length: {len(f)}, {len(t)}, {len(y)}")
    if not 0 < target <= 1 or not 0 < step <= threshold:
        raise ValueError(f"need 0 < target <= 1 and 0 < step <= threshold, got target={target}, step={step}")
    reference = (t >= threshold) & (y > 0)
    if not reference.any():
        raise ValueError("no labelled code page is kept on its trafilatura text: nothing to calibrate against")
    curve = []
    for margin in np.round(np.arange(0.0, threshold + step / 2, step), 6):
        keeps = cascade_keeps(f, t, threshold=threshold, margin=float(margin))
        band = (f >= threshold - margin) & (f < threshold)
        curve.append({
            "margin": float(margin),
            "kept_share": float((keeps & reference).sum() / reference.sum()),
            "rescored_share": float(band.mean()),
        })  # fmt: skip
    best = next(c for c in curve if c["kept_share"] >= target or c["margin"] >= threshold - 1e-9)
    return Calibration(
        margin=best["margin"], kept_share=best["kept_share"], rescored_share=best["rescored_share"],
        reference_pages=int(reference.sum()), pages=len(f), curve=curve,
    )  # fmt: skip


def labelled_texts(
    locations: Iterable[str], labels: Mapping[str, bool], *, fast_extractor: str = DEFAULT,
    full_extractor: str = "trafilatura", stats: Stats | None = None, timeout: float = 60, retries: int = 5,
) -> tuple[list[str], list[str], list[str], list[bool]]:  # fmt: skip
    """(url, fast text, full text, label) of every labelled HTML page in the WARC files, each text behind the page's
    code-signals line as a round scores it (a model without signals ignores the line)."""
    stats = stats if stats is not None else Stats()
    urls: list[str] = []
    fast: list[str] = []
    full: list[str] = []
    ys: list[bool] = []
    for location in locations:
        with open_stream(location, timeout=timeout, retries=retries) as stream:
            for page in iter_pages(stream, warc_path=location, stats=stats):
                if page.url not in labels:
                    continue
                got = page_text(page.html, fast_extractor)  # text and markup signals, as the index pass caches them
                # both carry the markup signals, as recall_warc scores the cached text and re-scores the kept one
                urls.append(page.url)
                fast.append(with_signals(got.text, got.signals))
                full.append(with_signals(extract(page.html, full_extractor), got.signals))
                ys.append(labels[page.url])
    return urls, fast, full, ys


def labelled_scores(
    locations: Iterable[str], labels: Mapping[str, bool], classifier: Scorer, *,
    fast_extractor: str = DEFAULT, full_extractor: str = "trafilatura", stats: Stats | None = None,
    timeout: float = 60, retries: int = 5,
) -> tuple[list[float], list[float], list[bool]]:  # fmt: skip
    """(fast score, trafilatura score, label) of every labelled HTML page in the WARC files (`labelled_texts`)."""
    _, fast, full, ys = labelled_texts(locations, labels, fast_extractor=fast_extractor, full_extractor=full_extractor,
                                       stats=stats, timeout=timeout, retries=retries)  # fmt: skip
    if not ys:
        raise ValueError("no labelled page found in these WARC files")
    return classifier.score(fast).tolist(), classifier.score(full).tolist(), ys
