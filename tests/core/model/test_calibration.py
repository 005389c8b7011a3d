"""Calibrating the cascade margin: the smallest band that keeps the plain pipeline's code pages."""

import numpy as np
import pytest

from webrecall.core.model.calibration import calibrate_margin, cascade_keeps

# page:        0     1     2     3     4     5
FAST = [0.90, 0.46, 0.32, 0.10, 0.60, 0.20]  # noqa: E241 - scores on the resiliparse text
FULL = [0.95, 0.70, 0.80, 0.90, 0.40, 0.10]  # noqa: E241 - scores on the trafilatura text
CODE = [True, True, True, True, False, False]


def test_cascade_keeps_the_fast_decision_and_promotes_the_band():
    keeps = cascade_keeps(np.array(FAST), np.array(FULL), threshold=0.5, margin=0.2)
    # 0 and 4 on the fast score; 2 (0.32) is in [0.3, 0.5) and passes on trafilatura; 3 lies outside the band
    assert keeps.tolist() == [True, True, True, False, True, False]


def test_the_margin_is_the_smallest_that_reaches_the_target():
    # the plain pipeline keeps code pages 0-3; the cascade needs the band to reach 0.10 (page 3) for all four
    cal = calibrate_margin(FAST, FULL, CODE, threshold=0.5, target=1.0, step=0.05)
    assert cal.reference_pages == 4 and cal.pages == 6
    assert cal.margin == pytest.approx(0.40) and cal.kept_share == 1.0
    assert cal.rescored_share == pytest.approx(4 / 6)  # pages 1, 2, 3 and 5 fall in [0.1, 0.5)
    by_margin = {round(p["margin"], 2): p["kept_share"] for p in cal.curve}
    assert by_margin[0.0] == 0.25 and by_margin[0.05] == 0.5 and by_margin[0.2] == 0.75
    # a looser target needs a narrower band
    assert calibrate_margin(FAST, FULL, CODE, threshold=0.5, target=0.75).margin == pytest.approx(0.20)


def test_margin_zero_when_the_fast_score_already_keeps_them_all():
    cal = calibrate_margin([0.9, 0.8, 0.1], [0.9, 0.6, 0.2], [True, True, False], threshold=0.5)
    assert cal.margin == 0.0 and cal.kept_share == 1.0 and cal.rescored_share == 0.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0.9], [0.2], [True]), {}, "nothing to calibrate"),
        (([0.9, 0.1], [0.9], [True]), {}, "differ in length"),
        (([0.9], [0.9], [True]), {"target": 0.0}, "target"),
        (([0.9], [0.9], [True]), {"step": 0.9}, "step"),
    ],
)
def test_unmeasurable_input_is_a_clear_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate_margin(*args, **kwargs)


def test_calibration_scores_pages_as_a_round_scores_them(dev_pages, tmp_path):
    """`labelled_scores`' fast score of a page is the score recall_warc gives it (code signals included), so the
    margin calibrated on it is the margin the cascade applies; the second text carries the same signals line."""
    from tests.conftest import CORPUS
    from webrecall.core.model.calibration import labelled_scores
    from webrecall.core.model.classifier import Classifier
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import Decision, index_warc, recall_warc
    from webrecall.core.settings import FastTextParams
    from webrecall.core.storage.store import Store
    from webrecall.core.text.features import spec

    texts, labels, urls = dev_pages
    clf = Classifier.train(texts[:400], labels[:400], params=FastTextParams(min_epoch_updates=0, epoch=5),
                           vocab_size=2000, signals=spec(8))  # fmt: skip
    warc = str(next((CORPUS / "crawl-data" / "CC-MAIN-DEV").glob("segments/*/warc/*-00001.warc.gz")))
    store = Store(str(tmp_path))
    index_warc(warc, store=store, stats=Stats())
    idx_rel, _ = recall_warc(warc, round_no=1, store=store, scorer=clf, decision=Decision(0.5), stats=Stats())
    index = store.read_table(idx_rel, columns=["url", "score"]).to_pydict()
    by_url = dict(zip(index["url"], index["score"], strict=True))
    truth = dict(zip(urls, labels, strict=True))
    fast, full, ys = labelled_scores([warc], truth, clf, full_extractor="resiliparse-plain")
    labelled = [u for u in index["url"] if u in truth]
    assert len(ys) == len(labelled) > 100
    assert fast == pytest.approx([by_url[u] for u in labelled], abs=1e-6)
    assert full == pytest.approx(fast, abs=0.05)  # the same page unfenced, behind the same signals line
