"""A model-free code-structure prior: does a page look like it carries code, from its markup and line shapes alone?

The fastText model learns what its seeds look like; this prior knows nothing of them. It reads only the page's code
signals (`text.features`: `<pre>`/`<code>` counts, highlighter classes, the shape of the lines inside `<pre>`) and
the line shapes of its text (code-like, indented, prose-like lines), so it says the same thing of a Rust blog in
Japanese as of an English documentation page. Where the two disagree (the prior says code and the model says no, or
the other way round) a label teaches the model most: the page-item queue asks about those pages
(`labelling.page_items`), and the second stage (`model.second_stage`) reads the same numbers.

The rule is stated, not fitted:

    prior = min(1, code_lines / 8) x min(1, code_share / 0.2)

where `code_lines` is the larger of the text's code-like lines and the code-like lines inside its `<pre>` blocks,
and `code_share` the larger of their share of the text's non-empty lines and of the `<pre>` lines. A page with eight
code-like lines that make at least a fifth of its lines scores 1; a page with none scores 0. `SAYS_CODE` and
`SAYS_OTHER` cut it in three: code, unsure, not code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from webrecall.core.text.features import decode, line_stats

CODE_LINES = 8
"""Code-like lines for full evidence (a short snippet of a tutorial has about this many)."""
CODE_SHARE = 0.2
"""Share of the page's lines that are code-like for full evidence."""
SAYS_CODE = 0.5
SAYS_OTHER = 0.1

FEATURES = ("pre", "code", "hl", "block_share", "block_lines", "block_code_share", "block_json_share",
            "block_prose_share", "text_lines", "code_lines", "code_share", "indented_share", "prose_share",
            "has_html")  # fmt: skip
"""The numbers of a page the prior and the second stage read, in this order (`vector`)."""


def _share(part: int, whole: int) -> float:
    return part / whole if whole > 0 else 0.0


def vector(signals: str | None, text: str) -> list[float]:
    """A page's code-structure numbers (`FEATURES`): its HTML signals when known, and its text's line shapes."""
    s, t = decode(signals or ""), line_stats(text)
    bl = s.get("bl", 0)
    return [float(s.get("pre", 0)), float(s.get("code", 0)), float(s.get("hl", 0)),
            _share(s.get("bc", 0), s.get("tc", 0)), float(bl), _share(s.get("bcl", 0), bl),
            _share(s.get("bjl", 0), bl), _share(s.get("bpl", 0), bl),
            float(t["tl"]), float(t["tcl"]), _share(t["tcl"], t["tl"]), _share(t["til"], t["tl"]),
            _share(t["tpl"], t["tl"]), 1.0 if s else 0.0]  # fmt: skip


def vectors(signals: Sequence[str | None] | None, texts: Sequence[str]) -> np.ndarray:
    """`vector` of each page as a float32 matrix (pages x `FEATURES`)."""
    sigs = signals if signals is not None else [None] * len(texts)
    if not texts:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    return np.asarray([vector(s, t) for s, t in zip(sigs, texts, strict=True)], dtype=np.float32)


_AT = {name: i for i, name in enumerate(FEATURES)}


def from_vectors(x: np.ndarray) -> np.ndarray:
    """The prior of each row of a `vectors` matrix, in [0, 1]."""
    if not len(x):
        return np.zeros(0, dtype=np.float32)
    block_code = x[:, _AT["block_lines"]] * x[:, _AT["block_code_share"]]
    lines = np.maximum(x[:, _AT["code_lines"]], block_code)
    share = np.maximum(x[:, _AT["code_share"]], x[:, _AT["block_code_share"]])
    return (np.minimum(1.0, lines / CODE_LINES) * np.minimum(1.0, share / CODE_SHARE)).astype(np.float32)


def code_prior(signals: Sequence[str | None] | None, texts: Sequence[str]) -> np.ndarray:
    """The prior of each page (its HTML signals string, if any, and its text)."""
    return from_vectors(vectors(signals, texts))
