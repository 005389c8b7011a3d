"""Rounds over two crawls that hold the same captures (CC-MAIN-BENCH's pages are CC-MAIN-DEV pages): the exported
corpus holds each page once, across crawls and across rounds; removed copies and contaminated pages stay visible
with their lineage; the counts reach the report, the API (real uvicorn), /stats and /metrics; the CLI exports."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.api.conftest import serve_api
from tests.conftest import CORPUS
from tests.core.conftest import export_rows
from webrecall.core import db as dbm
from webrecall.core.lifecycle.finalize import round_report
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.pipeline.dedup import canonical_url
from webrecall.core.settings import DecontamConfig, FastTextParams, Settings

pytestmark = pytest.mark.slow
SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
DEV = str(CORPUS / "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00003.warc.gz")
BENCH = str(CORPUS / "crawl-data/CC-MAIN-BENCH/segments/1716000000000.0/warc/CC-MAIN-BENCH-00000.warc.gz")


@pytest.fixture(scope="module")
def rounds(tmp_path_factory, dev_pages):
    """Round 1 over a DEV WARC and the BENCH WARC (two crawls), round 2 over BENCH again; a benchmark file quotes
    a sentence of a Python docs page of that DEV WARC, so that page is contaminated."""
    texts, _, urls = dev_pages
    labels = [json.loads(line) for line in (CORPUS / "labels/CC-MAIN-DEV.jsonl").open()]
    quoted = next(i for i, r in enumerate(labels)
                  if r["warc"].endswith("CC-MAIN-DEV-00003.warc.gz") and "docs.python.org/3.11/library/" in r["url"]
                  and len(texts[i].split()) > 800)  # fmt: skip
    tmp = tmp_path_factory.mktemp("dedup")
    bench_file = tmp / "devquote.jsonl"
    bench_file.write_text(json.dumps({"task_id": "Q/1", "prompt": " ".join(texts[quoted].split()[400:480])}) + "\n")
    settings = Settings(data_dir=str(tmp / "data"), database_url="", ft=FastTextParams(threads=1),
                        decontam=DecontamConfig(benchmarks=["humaneval", f"devquote={bench_file}"]))  # fmt: skip
    dbm.migrate(settings.db_url)
    r1 = run_round(settings, create_round(settings, RoundSpec(warcs=[DEV, BENCH], seed_patterns=SEEDS)).id,
                   processes=2)  # fmt: skip
    before = {"all": export_rows(settings, 1, dedup=False, decontaminate=False), "exported": export_rows(settings, 1)}
    r2 = run_round(settings, create_round(settings, RoundSpec(warcs=[BENCH])).id, processes=2)
    assert r1.status == r2.status == "done"
    return settings, r1, r2, urls[quoted], before


def test_two_crawls_export_each_page_once(rounds):
    """Round 1 read both crawls; its export (taken before round 2) holds each page once."""
    _, r1, _, _, before = rounds
    everything, exported = before["all"], before["exported"]
    dev_urls = {canonical_url(r["url"]) for r in everything if "CC-MAIN-DEV" in r["warc"]}
    twice = [r for r in everything if "CC-MAIN-BENCH" in r["warc"] and canonical_url(r["url"]) in dev_urls]
    assert len(twice) >= 2  # the same captures recalled from both crawls (2 with this seed)
    keys = [canonical_url(r["url"]) for r in exported]
    assert len(keys) == len(set(keys))
    d = r1.totals["dedup"]["round"]
    assert d["exact_url"] >= len(twice)
    assert len(exported) == d["kept"] - d["contaminated"] == len(everything) - sum(
        d[k] for k in ("exact_url", "exact_text", "near_dup")) - d["contaminated"]  # fmt: skip
    removed = [r for r in everything if r["dedup_of"]]
    assert len(removed) == len(everything) - d["kept"]
    assert all(r["dedup_reason"] in ("exact_url", "exact_text", "near_dup") for r in removed)
    for r in removed:
        assert r["dedup_of"].startswith("1/")
        if r["dedup_reason"] == "near_dup":
            assert 0.7 <= r["dedup_jaccard"] <= 1.0


def test_rounds_are_one_corpus(rounds):
    """Round 2 recalls BENCH pages that round 1 recalled too: the latest round's copy stays, round 1's copies point
    to it, and the two rounds' exports together hold each page once."""
    settings, _, r2, _, _ = rounds
    one_all = export_rows(settings, 1, dedup=False, decontaminate=False)
    one, two = export_rows(settings, 1, decontaminate=False), export_rows(settings, 2, decontaminate=False)
    two_urls = {canonical_url(r["url"]) for r in two}
    assert two and len(one) < len(one_all)
    assert len(two) == len(export_rows(settings, 2, dedup=False, decontaminate=False))  # one crawl file: no copy inside
    assert not two_urls & {canonical_url(r["url"]) for r in one}
    for r in one_all:
        if canonical_url(r["url"]) in two_urls:
            assert r["dedup_of"].startswith("2/") and r["dedup_reason"] in ("exact_url", "exact_text", "near_dup")
    d = r2.totals["dedup"]
    assert d["overall"]["pages"] == d["rounds"]["1"]["pages"] + d["round"]["pages"]
    assert d["overall"]["kept"] == len(one) + len(two)  # contaminated pages are kept copies, flagged


def test_contaminated_page_is_flagged_and_left_out_by_default(rounds):
    settings, r1, _, quoted_url, _ = rounds
    flagged = [r for r in export_rows(settings, 1, dedup=False, decontaminate=False) if r["contaminated"]]
    assert [r["url"] for r in flagged] == [quoted_url]
    assert flagged[0]["contaminated"] == "devquote:Q/1"
    assert quoted_url not in {r["url"] for r in export_rows(settings, 1)}
    assert r1.totals["dedup"]["round"]["contaminated"] == 1


def test_counts_reach_the_report_api_stats_metrics_and_cli(rounds):
    settings, r1, r2, _, _ = rounds
    report = round_report(settings, 2)
    assert report["dedup"]["round"] == r2.totals["dedup"]["round"]
    assert report["dedup"]["overall"]["exact_url"] >= 1
    with serve_api(__import__("pathlib").Path(settings.data_dir)) as api:
        body = api.client.get("/rounds/1").json()
        assert body["dedup"]["round"] == r1.totals["dedup"]["round"]
        stats = api.client.get("/stats").json()
        assert stats["overall"]["dedup"] == r2.totals["dedup"]["overall"]
        assert [r["dedup"] for r in stats["rounds"]] == [r1.totals["dedup"]["round"], r2.totals["dedup"]["round"]]
        metrics = api.client.get("/metrics").text
        exact = r2.totals["dedup"]["overall"]["exact_url"]
        from prometheus_client.parser import text_string_to_metric_families

        samples = {(s.labels.get("round"), s.labels.get("outcome")): s.value
                   for f in text_string_to_metric_families(metrics) if f.name == "webrecall_dedup_pages"
                   for s in f.samples}  # fmt: skip
        assert samples[("all", "exact_url")] == exact
        lines = api.client.get("/exports/rounds/1/pages", params={"dedup": "false", "decontaminate": "false"})
        assert len(lines.text.splitlines()) == len(export_rows(settings, 1, dedup=False, decontaminate=False))
        assert len(api.client.get("/exports/rounds/1/pages").text.splitlines()) == len(export_rows(settings, 1))
    from webrecall.cli.main import app

    out = __import__("pathlib").Path(settings.data_dir) / "export.jsonl"
    env = {"WEBRECALL_DATA_DIR": settings.data_dir, "WEBRECALL_DATABASE_URL": ""}
    for flags, expected in (([], len(export_rows(settings, 1))),
                            (["--no-dedup", "--no-decontaminate"], len(export_rows(settings, 1, dedup=False,
                                                                              decontaminate=False)))):  # fmt: skip
        res = CliRunner().invoke(app, ["export", "--round", "1", "--output", str(out), "--json", *flags], env=env)
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["rows"] == expected == len(out.read_text().splitlines())
