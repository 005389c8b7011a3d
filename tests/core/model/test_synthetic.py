"""Synthetic seeds from real DEV pages: deterministic per seed, code blocks in positives, non-code in negatives."""

from __future__ import annotations

import random

import pytest

from webrecall.core.model.synthetic import code_blocks, synthesize
from webrecall.core.text.features import decode, is_code_line, split_signals, with_signals


@pytest.fixture(scope="module")
def material(dev_pages: tuple[list[str], list[bool], list[str]]) -> tuple[list[str], list[str]]:
    texts, labels, urls = dev_pages
    pos = [t for t, y, u in zip(texts, labels, urls, strict=True) if y and "docs.python.org" in u][:60]
    neg = [with_signals(t, f"pre=0 code=0 hl=0 bc=0 tc={len(t)} bl=0 bcl=0 bjl=0 bpl=0")
           for t, y in zip(texts, labels, strict=True) if not y][:60]  # fmt: skip
    return pos, neg


def test_deterministic_per_seed(material: tuple[list[str], list[str]]) -> None:
    pos, neg = material
    first = synthesize(pos, neg, share=0.5, rng=random.Random(3))
    assert first == synthesize(pos, neg, share=0.5, rng=random.Random(3))
    assert first != synthesize(pos, neg, share=0.5, rng=random.Random(4))
    assert len(first[0]) == len(first[1]) == 30


def test_positives_get_code_blocks_negatives_get_non_code_blocks(material: tuple[list[str], list[str]]) -> None:
    pos, neg = material
    syn_pos, syn_neg = synthesize(pos, neg, share=0.5, rng=random.Random(0))
    for page in syn_pos:
        s = decode(split_signals(page)[0])
        assert 1 <= s["pre"] <= 6 and s["bl"] > 0
        assert s["bcl"] * 2 >= s["bl"]  # spliced blocks are mostly code lines
    non_code = [decode(split_signals(page)[0]) for page in syn_neg]
    assert all(1 <= s["pre"] <= 6 for s in non_code)
    assert sum(s["bcl"] for s in non_code) * 4 < sum(s["bl"] for s in non_code)  # <pre> markup, not code


def test_code_blocks_of_a_docs_page(material: tuple[list[str], list[str]]) -> None:
    blocks = [b for p in material[0] for b in code_blocks(p)]
    assert len(blocks) >= 20
    assert all(sum(map(is_code_line, b.splitlines())) >= 2 for b in blocks)


def test_no_material_no_pages() -> None:
    assert synthesize([], ["x"], share=1.0, rng=random.Random(0)) == ([], [])
    assert synthesize(["no code here at all"], ["x"], share=1.0, rng=random.Random(0)) == ([], [])
