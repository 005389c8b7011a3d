"""The one definition of a round's growth, read by the CLI, the API, the annotator and the demo.

Growth = new recalled characters / the previous finished round's recalled characters, where "new" means pages
the previous round did not recall (DeepSeekMath stopped its loop when a round added ~2%). Characters of the kept
text, not tokens: a round may train its own BPE, so token counts would not compare across rounds. It is computed
once, when the round is finalized (`webrecall.core.lifecycle.finalize.growth`), and stored in the round's totals.
"""

from __future__ import annotations

from typing import Any

from webrecall.core import totals
from webrecall.core.db import Round

FIELDS = tuple(totals.Growth.model_fields)


def rate(new_chars: int, chars_before: int) -> float | None:
    """New characters over the previous round's; None when there is nothing to compare with."""
    return round(new_chars / chars_before, 4) if chars_before else None


def of_round(rnd: Round) -> dict[str, Any] | None:
    """The growth a finished round recorded (None before it is finalized), every field present."""
    stored = totals.of(rnd).growth  # an old row reads with defaults (and `new_tokens` as `new_chars`)
    if stored is None or not stored.model_fields_set:
        return None
    return stored.model_dump(include=set(FIELDS))
