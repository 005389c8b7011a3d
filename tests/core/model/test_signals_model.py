"""A model trained with code signals reads them at training and at scoring time; one without ignores them."""

from __future__ import annotations

import pytest

from webrecall.core.model.classifier import Classifier
from webrecall.core.settings import FastTextParams
from webrecall.core.text.features import spec, with_signals

PARAMS = FastTextParams(epoch=3, max_epoch=3, min_count=1)


@pytest.fixture(scope="module")
def small(dev_pages: tuple[list[str], list[bool], list[str]]) -> tuple[list[str], list[bool]]:
    texts, labels, _ = dev_pages
    pos = [t for t, y in zip(texts, labels, strict=True) if y][:40]
    neg = [t for t, y in zip(texts, labels, strict=True) if not y][:40]
    return pos + neg, [True] * len(pos) + [False] * len(neg)


def test_model_without_signals_ignores_the_marker(small: tuple[list[str], list[bool]]) -> None:
    texts, labels = small
    clf = Classifier.train(texts, labels, params=PARAMS, vocab_size=2000)
    marked = [with_signals(t, "pre=3 code=9") for t in texts[:5]]
    assert clf.tokenize(marked) == clf.tokenize(texts[:5])
    assert clf.input_id == clf.tokenizer.id and "signals" not in clf.meta


def test_model_with_signals_prefixes_tokens_and_keys_its_cache(small: tuple[list[str], list[bool]], tmp_path) -> None:
    texts, labels = small
    clf = Classifier.train(texts, labels, params=PARAMS, vocab_size=2000, signals=spec(4))
    line = clf.tokenize([with_signals(texts[0], "pre=3 code=9 hl=0 bc=10 tc=100 bl=5 bcl=5 bjl=0 bpl=0")])[0]
    plain = clf.tokenize([texts[0]])[0].split()
    assert line.split().count("\u2042pre2") == 4 and "\u2042nohtml1" not in line.split()
    assert plain.count("\u2042nohtml1") == 4  # a text without HTML (a seed file's) says so
    assert line.split()[-50:] == plain[-50:]  # the same BPE tokens behind the signal tokens
    assert clf.input_id != clf.tokenizer.id  # token cache lines of a signal-less model are never reused
    clf.save(tmp_path)
    again = Classifier.load(tmp_path)
    assert again.meta["signals"] == spec(4)
    marked = [with_signals(texts[0], "pre=3 code=9")]
    assert again.tokenize(marked) == clf.tokenize(marked)
