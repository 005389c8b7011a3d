"""The annotator's sample lines (webrecall/core/labelling/item_view.py) show secrets and personal data as the
export writes them: placeholders, so nobody copies a live key out of the UI."""

from __future__ import annotations

import random

from tests.core.text import secret_cases as cases
from webrecall.core.labelling.item_view import snippet_lines
from webrecall.core.text.redact import redact


def test_sample_lines_show_placeholders(dev_pages) -> None:
    rng = random.Random(28)
    text = next(t for t in dev_pages[0] if t and len(t.splitlines()) > 20 and not redact(t)[1])
    placed = [cases.aws_access_key(rng), cases.password_assignment(rng), cases.email(rng)]
    shown = "\n".join(line for line, _ in snippet_lines("\n".join(p.lines for p in placed) + "\n" + text))
    for p in placed:
        assert p.value not in shown
    assert "<SECRET:aws_access_key>" in shown and "<SECRET:password>" in shown and "<EMAIL>" in shown
    as_is = [ln.strip()[:160] for ln in text.splitlines() if ln.strip()][:12]
    assert [line for line, _ in snippet_lines(text)] == as_is  # a page with nothing to hide shows as it is
