"""The seam where pages get their score: the recall pass (and the cascade, the calibration) takes a `Scorer`.

fastText over BPE tokens (`classifier.Classifier`) is the first; a second stage (a small model over the page's
code signals and the first stage's score, trained on the labelled pages) is another `Scorer` that wraps it, and
`lifecycle.model_store.scorer` is where a round's model row says which one it gets. A scorer sees a page-cache batch
as columns (`storage.layout.CACHE_SCHEMA`: text, signals, url, lang, ...) together with the batch's input lines, so
a stage that needs more than the tokens finds them there without a Python object per page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Scorer(Protocol):
    @property
    def version(self) -> str:
        """The model version every kept page records (its lineage)."""
        ...

    @property
    def input_id(self) -> str:
        """What `tokenize` makes of a text: the key of the token cache beside the page cache, so a scorer whose input
        lines differ never reads another's."""
        ...

    def tokenize(self, texts: list[str]) -> list[str]:
        """Each classifier input's model line (cached per WARC and `input_id`: a later round skips this)."""
        ...

    def score_batch(self, rows: Mapping[str, Sequence[Any]], lines: list[str]) -> np.ndarray:
        """P(code) as float32 for a page-cache batch (its columns) whose input lines are `lines`."""
        ...

    def score(self, texts: list[str]) -> np.ndarray:
        """P(code) as float32 for classifier inputs (each text behind its signals line, `features.with_signals`)."""
        ...
