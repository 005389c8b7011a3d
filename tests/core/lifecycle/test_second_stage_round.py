"""A round asked for a second stage, on CC-MAIN-DEV over loopback HTTP: it trains one, records it, and its recall
pass scores with it (the page index holds the two-stage scores, and each page's code-structure prior)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from tests.conftest import CACHE_ID
from webrecall.core import db as dbm
from webrecall.core import params
from webrecall.core.lifecycle import model_store
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.progress import round_view
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.model.classifier import Classifier
from webrecall.core.model.second_stage import SecondStage
from webrecall.core.pipeline.partials import round_index
from webrecall.core.pipeline.passes import scoring_texts
from webrecall.core.queries import done_warcs
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import cache_path
from webrecall.core.storage.store import Store

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
pytestmark = pytest.mark.slow


def test_a_second_stage_round_trains_records_and_scores_with_it(tmp_path, corpus_httpd, dev_eval_labels) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), database_url="", text_extractor="resiliparse")
    dbm.migrate(settings.db_url)
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_httpd.url, limit=2, seed_patterns=SEEDS,
                     eval_labels=dev_eval_labels, second_stage=True)  # fmt: skip
    rnd = run_round(settings, create_round(settings, spec).id, processes=2)
    assert rnd.status == "done" and params.of(rnd).second_stage and round_view(settings, rnd).second_stage
    recorded = rnd.totals["model"]["second_stage"]
    assert recorded["floor"] > 0 and 0 < recorded["positives"] < recorded["pages"]
    with dbm.session(settings.db_url) as db:
        model = db.exec(select(dbm.Model).where(dbm.Model.round_id == rnd.id)).one()
        locations = done_warcs(db, rnd.id)
    scorer = model_store.scorer(settings, model)
    assert isinstance(scorer, SecondStage)
    store = Store(settings.data_dir)
    index = round_index(store, rnd.number, locations, columns=["url", "score", "prior"])
    scores = dict(zip(index["url"].to_pylist(), index["score"].to_pylist(), strict=True))
    assert all(p is not None and 0 <= p <= 1 for p in index["prior"].to_pylist())
    cache = store.read_table(cache_path(locations[0], CACHE_ID), columns=["url", "text", "signals"]).slice(0, 300)
    texts = scoring_texts(cache.to_pydict())
    two, first = scorer.score(texts), Classifier.load(model_store.local_model_dir(settings, model.path)).score(texts)
    recorded_scores = np.asarray([scores[u] for u in cache["url"].to_pylist()])
    assert np.allclose(recorded_scores, two, atol=1e-4)  # the recall pass scored with both stages
    assert not np.allclose(recorded_scores, first, atol=1e-3)  # not with fastText alone
    assert rnd.totals["eval"]["f1"] > 0.5
    print({k: rnd.totals["eval"][k] for k in ("precision", "recall", "f1")})
