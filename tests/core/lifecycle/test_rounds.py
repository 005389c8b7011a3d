"""A real round over CC-MAIN-DEV WARC files served on loopback HTTP, measured against labels/."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from tests.conftest import CORPUS
from webrecall.api.main import create_app
from webrecall.cli.demo import round_record
from webrecall.core import db as dbm
from webrecall.core import label_store as labels
from webrecall.core.growth import of_round
from webrecall.core.labelling import dashboard
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.export import export
from webrecall.core.lifecycle.finalize import finalize, round_report
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.threshold import decision
from webrecall.core.lifecycle.warc_task import process_warc_task
from webrecall.core.pipeline import partials
from webrecall.core.pipeline.partials import topk_threshold
from webrecall.core.pipeline.passes import Decision
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import SCORE_BINS, domains_partial_path, index_path, pages_path
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import unfence

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    s = Settings(data_dir=str(tmp_path_factory.mktemp("data")), database_url="")
    dbm.migrate(s.db_url)
    return s


@pytest.fixture(scope="module")
def round1(settings, corpus_httpd, dev_eval_labels):
    corpus_httpd.clear()
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_httpd.url, limit=3, seed_patterns=SEEDS,
                     eval_labels=dev_eval_labels)
    rnd = create_round(settings, spec)
    return run_round(settings, rnd.id, processes=2)


def test_round_completes_with_counts_and_quality(round1):
    t = round1.totals
    assert round1.status == "done"
    assert t["warcs"] == 3 and t["warcs_failed"] == 0
    assert t["html_pages"] == 1500  # 500 response records per DEV WARC, all HTML
    assert t["pages"] == 4503  # request + response + metadata per page, plus a warcinfo per file
    assert t["errors"] == {}
    ev = t["eval"]
    assert ev["labeled_pages"] == 1100  # the labelled pages of half the hosts (`dev_eval_labels`) in these files
    # Training is single-threaded on shuffled seeds, so reproducible: precision 0.997, recall 0.34. Seeded with two
    # doc sites only, round 1 finds those and a share of the other doc sites; the annotation loop raises recall.
    assert ev["precision"] >= 0.97
    assert ev["recall"] >= 0.25
    assert 0 < t["recalled"] < t["html_pages"]


def test_round_totals_count_languages_and_growth_from_the_index(settings, round1):
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == round1.id,
                                                   dbm.WarcTask.phase == "recall")).all()  # fmt: skip
    rows = [r for t in tasks for r in store.read_table(index_path(round1.number, t.warc_url)).to_pylist()]
    langs = round1.totals["languages"]
    assert langs == dict(Counter(r["lang"] for r in rows).most_common(20))
    assert next(iter(langs)) == "en"
    g = round1.totals["growth"]  # round 1: everything it recalled is new
    assert g["new_pages"] == sum(r["kept"] for r in rows) == round1.totals["recalled"]
    assert g["new_chars"] == sum(r["text_len"] for r in rows if r["kept"]) == round1.totals["recalled_chars"]
    assert g["previous_round"] is None and g["growth"] is None  # nothing to grow from


def test_seed_sites_are_recalled_and_other_doc_sites_become_candidates(settings, round1):
    with dbm.session(settings.db_url) as db:
        rows = {d.domain: d for d in db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == round1.id))}
    assert rows["docs.python.org"].fraction >= 0.9
    assert rows["www.postgresql.org"].fraction >= 0.9
    unseeded_docs = {"docs.djangoproject.com", "www.sqlite.org", "docs.sqlalchemy.org", "flask.palletsprojects.com"}
    assert len({d for d in unseeded_docs if d in rows and rows[d].related}) >= 2


def test_recall_phase_keeps_the_cached_text_and_reads_no_warc(settings, round1, corpus_httpd):
    """The default kept text is the page cache's: the WARC is read once, by the index pass, and never again."""
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == round1.id)).all()
    recall = [t for t in tasks if t.phase == "recall"]
    assert all(t.stats.get("stream_opens", 0) == 0 and t.stats.get("range_reads", 0) == 0 for t in recall)
    assert round1.params["text_extractor"] == "resiliparse" and round1.params["cascade_margin"] == 0.0
    warc_hits = corpus_httpd.paths(".warc.gz")
    probes = [h for h in warc_hits if h.range == "bytes=0-0"]
    assert len(probes) == 1  # at round start: does this source host honour Range? (one request per host)
    assert len([h for h in warc_hits if h.range is None]) == 3  # the index pass: one streamed read per WARC file
    assert not [h for h in warc_hits if h.range is not None and h not in probes]
    store = Store(settings.data_dir)
    kept = sum(t.stats["kept"] for t in recall)
    blocks = sum(t.stats.get("kept_code_blocks", 0) for t in recall)
    assert kept > 0 and blocks > 0 and sum(t.stats["kept_code_verbatim"] for t in recall) <= blocks
    pages = store.read_table(pages_path(round1.number, recall[0].warc_url)).to_pydict()
    assert set(pages["text_extractor"]) == {"resiliparse"}


def test_a_trafilatura_round_reads_its_kept_pages_by_range(settings, round1, corpus_httpd):
    """trafilatura stays a per-round choice: recorded with the round, used by every worker whatever its own
    settings, and its candidates are read back by byte range, never the whole file."""
    corpus_httpd.clear()
    chooser = settings.model_copy(update={"text_extractor": "trafilatura"})
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_httpd.url, limit=1, seed_patterns=SEEDS)
    rnd = create_round(chooser, spec)
    assert rnd.params["text_extractor"] == "trafilatura" and rnd.params["cascade_margin"] == chooser.cascade_margin
    rnd = run_round(settings, rnd.id, processes=1)  # the worker's settings keep the default: the round wins
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rnd.id)).all()
    recall = [t for t in tasks if t.phase == "recall"]
    ranged = [h for h in corpus_httpd.paths(".warc.gz") if h.range not in (None, "bytes=0-0")]  # not the probe
    assert sum(t.stats["range_reads"] for t in recall) == len(ranged) > 0
    pages = Store(settings.data_dir).read_table(pages_path(rnd.number, recall[0].warc_url)).to_pydict()
    assert set(pages["text_extractor"]) <= {"trafilatura", "resiliparse"} and "trafilatura" in pages["text_extractor"]
    buf = io.BytesIO()
    export(settings, rnd.number, buf)
    assert {json.loads(line)["text_extractor"] for line in buf.getvalue().splitlines()} >= {"trafilatura"}


def test_domain_stats_flag_related_domains(settings, round1):
    with dbm.session(settings.db_url) as db:
        rows = {d.domain: d for d in db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == round1.id))}
    assert sum(d.pages for d in rows.values()) == 1500
    assert rows["docs.python.org"].related and rows["docs.python.org"].fraction > 0.9
    assert all(d.related == (d.fraction > 0.10) for d in rows.values())
    assert all(0.0 <= d.score_p10 <= d.score_p50 <= d.score_p90 <= 1.0 for d in rows.values())


def test_finalize_from_partials_equals_a_direct_computation_on_the_index(settings, round1):
    """finalize merges the WARCs' partial aggregates; the same figures computed straight from the page index."""
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == round1.id,
                                                   dbm.WarcTask.phase == "recall")).all()  # fmt: skip
        stats = {(d.domain, d.site): d for d in db.exec(select(dbm.DomainStat)
                                                         .where(dbm.DomainStat.round_id == round1.id))}  # fmt: skip
    locations = [t.warc_url for t in tasks]
    assert all(store.exists(domains_partial_path(round1.number, loc)) for loc in locations)  # written by the tasks
    index = pa.concat_tables([store.read_table(index_path(round1.number, loc)) for loc in locations])
    rows = index.to_pylist()
    by_domain: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_domain.setdefault((r["domain"], r["site"]), []).append(r)
    assert set(stats) == set(by_domain) and round1.totals["domains"] == len(by_domain)
    for key, pages in by_domain.items():
        d, scores = stats[key], np.array([r["score"] for r in pages], np.float64)
        kept = [r for r in pages if r["kept"]]
        assert (d.pages, d.recalled, d.chars, d.recalled_chars) == (
            len(pages), len(kept), sum(r["text_len"] for r in pages), sum(r["text_len"] for r in kept))
        assert d.fraction == len(kept) / len(pages) and d.related == (d.fraction > settings.related_fraction)
        assert d.score_mean == pytest.approx(scores.mean(), abs=1e-9)
        exact = np.quantile(scores, [0.1, 0.5, 0.9])  # the histogram's quantiles: within half a bin of these
        assert np.abs(np.array([d.score_p10, d.score_p50, d.score_p90]) - exact).max() <= 0.5 / SCORE_BINS + 1e-6
    assert round1.totals["recalled"] == sum(r["kept"] for r in rows)
    assert round1.totals["recalled_chars"] == sum(r["text_len"] for r in rows if r["kept"])
    assert round1.totals["html_pages"] == len(rows)
    # a top-K budget's cut over the kept partials is the exact K-th best score of the whole index
    scores = index["score"].to_numpy()
    kept = partials.kept_tables(store, round1.number, locations)
    for k in (1, 7, 100, int((scores >= round1.threshold).sum()), len(rows), len(rows) + 5):
        cut = partials.topk_cut(kept, k, round1.threshold, pages=len(rows))
        assert cut == topk_threshold(scores, k, round1.threshold)


def test_finalize_makes_missing_partials_from_the_index(settings, round1):
    """A round indexed before partials existed: finalize makes them from its index and finds the same figures."""
    store = Store(settings.data_dir)
    for rel in store.list(f"rounds/{round1.number}/partials"):
        store.remove(rel)
    again = finalize(RoundContext.load(settings, round1.id))
    assert store.list(f"rounds/{round1.number}/partials")  # made again, one WARC at a time
    keys = ("recalled", "recalled_chars", "html_pages", "domains", "related_domains", "languages", "growth", "eval")
    assert {k: again.totals[k] for k in keys} == {k: round1.totals[k] for k in keys}


def test_rerunning_a_warc_replaces_its_outputs(settings, round1):
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        task = db.exec(
            select(dbm.WarcTask).where(dbm.WarcTask.round_id == round1.id, dbm.WarcTask.phase == "recall")
        ).first()
    before_pages = store.read_table(pages_path(round1.number, task.warc_url))
    before_index = store.read_table(index_path(round1.number, task.warc_url))
    result = process_warc_task(settings, task.id)
    assert result.status == "done"
    after_pages = store.read_table(pages_path(round1.number, task.warc_url))
    assert after_pages.num_rows == before_pages.num_rows
    assert sorted(after_pages["url"].to_pylist()) == sorted(before_pages["url"].to_pylist())
    assert store.read_table(index_path(round1.number, task.warc_url)).num_rows == before_index.num_rows
    with dbm.session(settings.db_url) as db:
        row = db.get(dbm.WarcTask, task.id)
    assert row.attempts == 2 and row.recalled == task.recalled  # replaced, not added
    assert not [p for p in store.list("rounds") if p.endswith(".tmp")]


def test_export_equals_the_recalled_pages(settings, round1):
    buf = io.BytesIO()
    n = export(settings, round1.number, buf, fmt="jsonl", dedup=False, decontaminate=False)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert n == len(rows) == round1.totals["recalled"]
    assert len({r["url"] for r in rows}) == n
    assert all(r["round"] == 1 and r["model"] and r["text"] and r["score"] >= round1.threshold for r in rows)
    assert all(r["label"] is None and r["label_pattern"] is None for r in rows)  # nothing labeled yet
    assert all(r["text_extractor"] == "resiliparse" and "```" not in r["text"] for r in rows)  # lineage; no fences
    fenced = io.BytesIO()
    assert export(settings, round1.number, fenced, fences=True, dedup=False, decontaminate=False) == n
    with_fences = {json.loads(line)["url"]: json.loads(line)["text"] for line in fenced.getvalue().splitlines()}
    assert sum("\n```\n" in t for t in with_fences.values()) > n // 4  # docs pages keep their code blocks marked
    assert all(unfence(with_fences[r["url"]]) == r["text"] for r in rows)
    with dbm.session(settings.db_url) as db:
        labels.import_labels(db, [{"pattern": "docs.python.org/", "label": "code", "annotator": "t"},
                                  {"pattern": "docs.python.org/3.11/library/", "label": "mixed", "annotator": "t"}])
    relabeled = io.BytesIO()
    export(settings, round1.number, relabeled)
    lineage = {json.loads(line)["url"]: json.loads(line) for line in relabeled.getvalue().splitlines()}
    for url, row in lineage.items():
        if "docs.python.org/3.11/library/" in url:
            assert (row["label"], row["label_pattern"]) == ("mixed", "docs.python.org/3.11/library/")  # most specific
        elif "docs.python.org/" in url:
            assert (row["label"], row["label_pattern"]) == ("code", "docs.python.org/")
        else:
            assert row["label"] is None
    assert any(r["label"] == "mixed" for r in lineage.values()) and any(r["label"] == "code" for r in lineage.values())
    pbuf = io.BytesIO()
    assert export(settings, round1.number, pbuf, fmt="parquet", min_score=0.9) <= n
    table = pq.read_table(io.BytesIO(pbuf.getvalue()))
    assert all(s >= 0.9 for s in table["score"].to_pylist())


def test_top_k_round_keeps_exactly_the_best_pages(settings, round1, corpus_httpd):
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_httpd.url, limit=3, top_k=100))
    rnd = run_round(settings, rnd.id, processes=1)
    assert rnd.status == "done"
    assert 100 <= rnd.totals["recalled"] <= 110  # ties at the K-th score are kept
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        done = [t.warc_url for t in db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rnd.id,
                                                                         dbm.WarcTask.phase == "recall"))]  # fmt: skip
    index = pa.concat_tables([store.read_table(index_path(rnd.number, loc)) for loc in done])
    assert rnd.effective_threshold == topk_threshold(index["score"].to_numpy(), 100, settings.top_k_floor)
    assert sum(index["kept"].to_pylist()) == rnd.totals["recalled"]  # finalize wrote the cut back to the index
    buf = io.BytesIO()
    assert export(settings, rnd.number, buf, dedup=False) == rnd.totals["recalled"]
    # growth over round 1: one definition (new recalled chars / round 1's recalled chars) wherever it is read
    g = of_round(rnd)
    with TestClient(create_app(settings)) as c:
        assert c.get(f"/rounds/{rnd.number}").json()["growth"] == g
    assert round_report(settings, rnd.number)["growth"] == g
    with dbm.session(settings.db_url) as db:
        chart = {row["round"]: row["growth"] for row in dashboard.progress(db)["growth"]}
    assert chart[rnd.number] == g["growth"]
    assert (round_record(rnd)["growth"], round_record(rnd)["new_chars"]) == (g["growth"], g["new_chars"])
    with dbm.session(settings.db_url) as db:  # the latest round finished before this one (other tests add rounds)
        prev = db.exec(select(dbm.Round).where(dbm.Round.number < rnd.number, dbm.Round.status == "done")
                       .order_by(dbm.Round.number.desc())).first()  # type: ignore[attr-defined]
    assert g["previous_round"] == prev.number and g["recalled_chars_before"] == prev.totals["recalled_chars"]
    assert g["growth"] == round(g["new_chars"] / g["recalled_chars_before"], 4)


def test_the_margin_and_floor_recorded_with_a_round_win_over_a_workers_settings(settings, corpus_server):
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1, threshold=0.6)
    chooser = settings.model_copy(update={"cascade_margin": 0.1, "text_extractor": "trafilatura"})
    rnd = create_round(chooser, spec)
    assert rnd.params["cascade_margin"] == 0.1
    worker = settings.model_copy(update={"cascade_margin": 0.3, "top_k_floor": 0.2})
    assert decision(RoundContext.of(worker, rnd)) == Decision(0.6, 0.1)
    top_k = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1, top_k=10))
    assert decision(RoundContext.of(worker, top_k)) == Decision(0.1, 0.0)  # the floor only pre-filters: no band
    cached = create_round(settings.model_copy(update={"cascade_margin": 0.1}), spec)
    assert cached.params["text_extractor"] == "resiliparse" and cached.params["cascade_margin"] == 0.0
    assert decision(RoundContext.of(worker, cached)) == Decision(0.6, 0.0)  # re-scoring the cached text changes nothing


def test_bad_specs_are_refused_with_a_reason(settings, corpus_server):
    with pytest.raises(ValueError, match="not both"):
        create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, threshold=0.5, top_k=3))
    with pytest.raises(ValueError, match="too broad"):
        create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, seed_patterns=["%a%"]))
    with pytest.raises(Exception, match="unknown crawl id"):
        create_round(settings, RoundSpec(crawl_id="CC-MAIN-NOPE", base_url=corpus_server, seed_patterns=SEEDS))


def test_typed_totals_read_the_stored_round_and_keep_its_json_shape(round1):
    from webrecall.core import totals

    t = totals.of(round1)
    assert t.as_json() == round1.totals  # validating what finalize wrote changes nothing in the column
    assert (t.recalled, t.html_pages, t.warcs) == (round1.totals["recalled"], 1500, 3)
    assert t.eval is not None and t.eval.labeled_pages == 1100
    assert t.growth is not None and t.growth.new_pages == t.recalled
    assert t.model is not None and t.model.seeds["positives"] == round1.totals["model"]["seeds"]["positives"]
