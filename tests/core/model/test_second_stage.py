"""The second scoring stage on real DEV pages: trained on labelled pages with cross-fitted logits, applied above its
floor only, the same through both scorer paths, saved and loaded with its model, skipped when too few pages train it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from webrecall.core.model import prior, second_stage
from webrecall.core.model.classifier import Classifier
from webrecall.core.model.second_stage import SecondStage, load_scorer
from webrecall.core.settings import FastTextParams
from webrecall.core.text.features import spec
from webrecall.core.urls.domains import split_url

PARAMS = FastTextParams(epoch=3, max_epoch=3, min_count=1)


def _half(url: str) -> int:
    return hashlib.sha1(split_url(url)[0].encode()).digest()[0] % 2


@pytest.fixture(scope="module")
def split(dev_pages: tuple[list[str], list[bool], list[str]]) -> dict[str, tuple[list[str], list[bool], list[str]]]:
    """DEV split by host: a training half (every 4th page, to keep the test short) and the other half to judge."""
    texts, labels, urls = dev_pages
    out: dict[str, tuple[list[str], list[bool], list[str]]] = {"train": ([], [], []), "judge": ([], [], [])}
    for i, (t, y, u) in enumerate(zip(texts, labels, urls, strict=True)):
        part = out["train" if _half(u) == 0 else "judge"]
        if part is out["judge"] or i % 4 == 0:
            part[0].append(t)
            part[1].append(y)
            part[2].append(u)
    return out


@pytest.fixture(scope="module")
def trained(split) -> tuple[Classifier, SecondStage]:
    texts, labels, urls = split["train"]
    clf = Classifier.train(texts, labels, params=PARAMS, vocab_size=2000, signals=spec(8))
    stage = second_stage.train(clf, texts, labels, urls, params=PARAMS)
    assert stage is not None
    return clf, stage


def test_it_rescores_above_the_floor_only(trained, split) -> None:
    clf, stage = trained
    texts, labels, _ = split["judge"]
    first, second = clf.score(texts), stage.score(texts)
    low = first < stage.floor
    assert low.any() and (~low).any()
    assert np.array_equal(second[low], first[low])  # under the floor: fastText's score stands
    assert not np.allclose(second[~low], first[~low])  # above it the fine stage decides
    meta = clf.meta["second_stage"]
    assert meta["floor"] == second_stage.FLOOR and 0 < meta["positives"] < meta["pages"]
    y = np.asarray(labels)
    accuracy = float(np.mean((second >= 0.5) == y))
    print(f"judged half: fastText accuracy {np.mean((first >= 0.5) == y):.3f}, two-stage {accuracy:.3f}")
    assert accuracy >= 0.85  # a working classifier on hosts it never saw, not a coin


def test_the_batch_path_and_the_text_path_agree(trained, split) -> None:
    clf, stage = trained
    texts = split["judge"][0][:200]
    lines = stage.tokenize(texts)
    rows = {"text": texts, "signals": [None] * len(texts)}
    computed = stage.score_batch(rows, lines)
    cached = stage.score_batch({**rows, "shape": prior.vectors(None, texts)}, lines)  # as the token cache gives it
    assert np.allclose(computed, stage.score(texts)) and np.allclose(cached, computed)
    assert stage.input_id == clf.input_id and stage.version == clf.version  # the same token cache and lineage


def test_it_is_saved_with_its_model_and_loaded_as_its_scorer(trained, split, tmp_path) -> None:
    clf, stage = trained
    texts = split["judge"][0][:100]
    stage.save(tmp_path / "two")
    loaded = load_scorer(tmp_path / "two")
    assert isinstance(loaded, SecondStage) and np.allclose(loaded.score(texts), stage.score(texts))
    plain = Classifier.train(split["train"][0], split["train"][1], params=PARAMS, vocab_size=2000)
    plain.save(tmp_path / "one")
    assert isinstance(load_scorer(tmp_path / "one"), Classifier)


def test_too_few_labelled_pages_train_no_second_stage(split) -> None:
    texts, labels, urls = split["train"]
    few = [i for i, y in enumerate(labels) if y][:10] + [i for i, y in enumerate(labels) if not y][:10]
    sub = ([texts[i] for i in few], [labels[i] for i in few], [urls[i] for i in few])
    clf = Classifier.train(sub[0], sub[1], params=PARAMS, vocab_size=500)
    assert second_stage.train(clf, *sub, params=PARAMS) is None and "second_stage" not in clf.meta
