"""Where a round's model lives and how a worker gets it: the store holds it, each process caches a copy."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlmodel import col, select

from webrecall.core.db import Model, Round, session
from webrecall.core.model.classifier import Classifier, load_cached, load_tokenizer
from webrecall.core.model.scorer import Scorer
from webrecall.core.model.second_stage import SecondStage, load_scorer
from webrecall.core.queries import round_by_number
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store
from webrecall.core.text.tokenizer import BpeTokenizer


def local_model_dir(settings: Settings, model_path: str) -> str:
    """Models live in the store; workers on other hosts copy one down once per process."""
    store = Store(settings.data_dir)
    if store.local:
        return store.path(model_path)
    target = Path(tempfile.gettempdir()) / "webrecall-models" / model_path.replace("/", "_")
    if not (target / "model.bin").exists():
        store.get_dir(model_path, str(target))
    return str(target)


def save_model(settings: Settings, clf: Classifier | SecondStage) -> str:
    """Write a trained model (with its second stage, if it has one) into the store; returns its path there."""
    rel = f"models/{clf.version}"
    with tempfile.TemporaryDirectory() as tmp:
        clf.save(tmp)
        Store(settings.data_dir).put_dir(tmp, rel)
    return rel


def model_classifier(settings: Settings, model: Model) -> Classifier:
    return load_cached(local_model_dir(settings, model.path))


def scorer(settings: Settings, model: Model) -> Scorer:
    """What a round's recall tasks score with: its model's `Scorer` (fastText, wrapped by its second stage when it was
    trained with one)."""
    return load_scorer(local_model_dir(settings, model.path))


def prefilter(settings: Settings, path: str) -> Scorer:
    """A WET round's pre-filter (its path is recorded with the round)."""
    return load_cached(local_model_dir(settings, path))


def round_classifier(settings: Settings, number: int | None) -> Scorer:
    """The scorer a round scores with (the latest round's by default, with its second stage if it has one);
    ValueError if it has none yet."""
    rnd = round_by_number(settings, number)
    with session(settings.db_url) as db:
        model = db.get(Model, rnd.model_id) if rnd.model_id else None
    if model is None:
        raise ValueError(f"round {rnd.number} has no model yet")
    return scorer(settings, model)


def prefilter_tokenizer(settings: Settings, rnd: Round) -> BpeTokenizer | None:
    """The tokenizer of the loop's first pre-filter (so a later round's pre-filter reads the token cache)."""
    from webrecall.core.params import of

    with session(settings.db_url) as db:
        earlier = db.exec(select(Round).where(col(Round.number) < rnd.number).order_by(col(Round.number))).all()
    for prev in earlier:
        path = of(prev).wet_prefilter
        if path:
            return load_tokenizer(local_model_dir(settings, path))[1]
    return None


def first_tokenizer(settings: Settings, rnd: Round) -> BpeTokenizer | None:
    """The tokenizer of the loop's first model: one tokenizer for all rounds, as the papers use one."""
    with session(settings.db_url) as db:
        first = db.exec(select(Model).where(col(Model.round_id) != rnd.id).order_by(col(Model.id))).first()
    if first is None:
        return None
    return load_tokenizer(local_model_dir(settings, first.path))[1]
