"""The annotator's sample lines (webrecall/core/labelling/samples.py, used by item_view and page_items) show
secrets and personal data as the export writes them: placeholders, so nobody copies a live key out of the UI."""

from __future__ import annotations

import random

from tests.core.text import secret_cases as cases
from webrecall.core.labelling.page_items import text_blocks
from webrecall.core.labelling.samples import first_lines, sample_blocks
from webrecall.core.text.redact import redact


def test_sample_lines_show_placeholders(dev_pages) -> None:
    rng = random.Random(28)
    text = next(t for t in dev_pages[0] if t and len(t.splitlines()) > 20 and not redact(t)[1])
    placed = [cases.aws_access_key(rng), cases.password_assignment(rng), cases.email(rng)]
    page = "\n".join(p.lines for p in placed) + "\n" + text
    for shown in ("\n".join(first_lines(sample_blocks(page))), "\n".join(b["text"] for b in text_blocks(page)[0])):
        for p in placed:
            assert p.value not in shown
        assert "<SECRET:aws_access_key>" in shown and "<SECRET:password>" in shown and "<EMAIL>" in shown
    assert all(line.removesuffix("…") in text for line in first_lines(sample_blocks(text)))  # nothing to hide: as is
