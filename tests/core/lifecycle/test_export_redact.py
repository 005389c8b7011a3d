"""Secrets and personal data in the exported corpus: a round over a real WARC (CC-MAIN-DEV-00003) in which a dozen
Python docs pages carry fresh real-format secrets, an e-mail and an IP address in their code blocks and prose. The
export (JSONL, Parquet, CLI, API) holds placeholders where they were, each row counts what it lost, and the round
report, GET /rounds/{n}, /stats and /metrics show the totals; `redact=false` gives the text as found."""

from __future__ import annotations

import html
import io
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.api.conftest import serve_api
from tests.conftest import CORPUS
from tests.core.conftest import export_rows
from tests.core.text import secret_cases as cases
from webrecall.core import db as dbm
from webrecall.core.crawl.warc import read_page
from webrecall.core.lifecycle.export import export
from webrecall.core.lifecycle.finalize import round_report
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.settings import FastTextParams, Settings

pytestmark = pytest.mark.slow
SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
WARC = "crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00003.warc.gz"
PAGES = 12


def _placed_warc(path: Path, rng: random.Random) -> dict[str, list[cases.Placed]]:
    """CC-MAIN-DEV-00003 with PAGES docs pages rewritten: after their first code block, a block of secrets and a
    paragraph with an address; every other record copied byte for byte (each record is its own gzip member)."""
    labels = [json.loads(line) for line in (CORPUS / "labels/CC-MAIN-DEV.jsonl").open(encoding="utf-8")]
    whole = (CORPUS / WARC).read_bytes()
    chosen, placed = [], {}
    for row in sorted((r for r in labels if r["warc"] == WARC), key=lambda r: r["offset"]):
        if len(chosen) == PAGES or "docs.python.org/" not in row["url"] or row["label"] != "code":
            continue
        page = read_page(whole[row["offset"] : row["offset"] + row["length"]], warc_path=WARC, offset=row["offset"])
        if page is None or not re.search(r"</pre>", page.html, re.IGNORECASE):
            continue
        secrets = [g(rng) for g in rng.sample(cases.GENERATORS[:10], 3)]
        people = [cases.email(rng), cases.ip_address(rng)]
        block = "<pre>" + html.escape("\n".join(p.lines for p in secrets)) + "</pre>"
        prose = f"<p>Questions to {people[0].value}; the mirror runs on {people[1].value}.</p>"
        at = re.search(r"</pre>", page.html, re.IGNORECASE).end()  # type: ignore[union-attr]
        body = (page.html[:at] + block + prose + page.html[at:]).encode()
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                           ("Content-Length", str(len(body)))], protocol="HTTP/1.1")  # fmt: skip
        writer.write_record(writer.create_warc_record(row["url"], "response", payload=io.BytesIO(body),
                                                      http_headers=http))  # fmt: skip
        chosen.append((row["offset"], row["length"], buf.getvalue()))
        placed[row["url"]] = secrets + people
    out, at = bytearray(), 0
    for offset, length, record in chosen:
        out += whole[at:offset] + record
        at = offset + length
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out + whole[at:]))
    return placed


@pytest.fixture(scope="module")
def placed_round(tmp_path_factory):
    """A top-K round (its cut is made at finalize: the totals are counted at the cut) over the rewritten WARC."""
    tmp = tmp_path_factory.mktemp("redact")
    warc = tmp / "crawl" / "CC-MAIN-DEV-00003.warc.gz"
    placed = _placed_warc(warc, random.Random(28))
    settings = Settings(data_dir=str(tmp / "data"), database_url="", ft=FastTextParams(threads=1))
    dbm.migrate(settings.db_url)
    spec = RoundSpec(warcs=[str(warc)], seed_patterns=SEEDS, top_k=400)
    rnd = run_round(settings, create_round(settings, spec).id, processes=2)
    assert rnd.status == "done", rnd.error
    raw = {r["url"]: r for r in export_rows(settings, rnd.number, redact=False)}
    placed = {url: values for url, values in placed.items() if url in raw}  # the pages the round kept
    assert len(placed) >= PAGES // 2
    return settings, rnd, placed, raw


def test_placed_secrets_never_reach_the_export(placed_round):
    settings, rnd, placed, raw = placed_round
    rows = {r["url"]: r for r in export_rows(settings, rnd.number)}
    assert rows.keys() == raw.keys()
    for url, values in placed.items():
        for p in values:
            assert p.value in raw[url]["text"]  # the page as found carries it ...
            assert p.value not in rows[url]["text"], (p.kind, p.lines)  # ... the export does not
        found = rows[url]["redactions"]
        assert found["email"] >= 1 and found["ip_address"] >= 1 and sum(found.values()) >= len(values)
        for kind in found:
            assert ("<EMAIL>" if kind == "email" else "<IP_ADDRESS>" if kind == "ip_address"
                    else f"<SECRET:{kind}>") in rows[url]["text"]  # fmt: skip
        assert raw[url]["redactions"] is None
    for url, row in rows.items():  # elsewhere, the text changes only where a placeholder stands
        if not row["redactions"]:
            assert row["text"] == raw[url]["text"]


def test_parquet_carries_the_same_text_and_counts(placed_round):
    settings, rnd, placed, _ = placed_round
    buf = io.BytesIO()
    export(settings, rnd.number, buf, fmt="parquet")
    buf.seek(0)
    table = pq.read_table(buf)
    kind = table.schema.field("redactions").type
    assert kind.key_type == pa.string() and kind.item_type == pa.int32()
    rows = {r["url"]: r for r in export_rows(settings, rnd.number)}
    for r in table.select(["url", "text", "redactions"]).to_pylist():
        assert r["text"] == rows[r["url"]]["text"] and dict(r["redactions"]) == rows[r["url"]]["redactions"]


def test_round_totals_count_what_the_export_redacts(placed_round):
    """The recall tasks count, finalize sums at the top-K cut: the same figures as the rows of an export that
    leaves nothing out (no dedup, no decontamination)."""
    settings, rnd, _, _ = placed_round
    totals = rnd.totals["redactions"]
    rows = export_rows(settings, rnd.number, dedup=False, decontaminate=False)
    kinds: dict[str, int] = {}
    for r in rows:
        for kind, n in r["redactions"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    assert totals == {"pages": sum(bool(r["redactions"]) for r in rows), "total": sum(kinds.values()),
                      "kinds": dict(sorted(kinds.items()))}  # fmt: skip
    assert round_report(settings, rnd.number)["redactions"] == totals


def test_the_switch_and_the_totals_through_the_cli_and_the_api(placed_round):
    settings, rnd, placed, raw = placed_round
    secret = next(p.value for values in placed.values() for p in values)
    from webrecall.cli.main import app

    env = {"WEBRECALL_DATA_DIR": settings.data_dir, "WEBRECALL_DATABASE_URL": ""}
    out = Path(settings.data_dir) / "export.jsonl"
    for flags, present in (([], False), (["--no-redact"], True), (["--redact"], False)):
        res = CliRunner().invoke(app, ["export", "--round", str(rnd.number), "--output", str(out), *flags], env=env)
        assert res.exit_code == 0, res.output
        assert (secret in out.read_text()) is present
    report = CliRunner().invoke(app, ["round", "report", str(rnd.number)], env=env)
    assert f"{rnd.totals['redactions']['total']:,} values in" in report.output
    with serve_api(Path(settings.data_dir)) as api:
        lines = api.client.get(f"/exports/rounds/{rnd.number}/pages").text.splitlines()
        assert len(lines) == len(raw) and secret not in "\n".join(lines)
        assert all(json.loads(line)["redactions"] is not None for line in lines)
        plain = api.client.get(f"/exports/rounds/{rnd.number}/pages", params={"redact": "false"}).text
        assert secret in plain
        assert api.client.get(f"/exports/rounds/{rnd.number}/pages", params={"redact": "maybe"}).status_code == 422
        totals = rnd.totals["redactions"]
        assert api.client.get(f"/rounds/{rnd.number}").json()["redactions"] == totals
        stats = api.client.get("/stats").json()
        assert stats["rounds"][0]["redactions"] == totals == stats["overall"]["redactions"]
        from prometheus_client.parser import text_string_to_metric_families

        metrics = api.client.get("/metrics").text
        samples = {s.labels["kind"]: s.value for f in text_string_to_metric_families(metrics)
                   if f.name == "webrecall_redacted_values" for s in f.samples}  # fmt: skip
        assert samples == totals["kinds"]


def _sigs_rewritten(settings: Settings, tmp: Path, *, version: str) -> Settings:
    """A copy of the round's data dir whose signature files say no page has a value to redact, under `version`."""
    import shutil

    from webrecall.core.pipeline.dedup import SIGS_WRITTEN

    copy = tmp / f"data-{version}"
    shutil.copytree(settings.data_dir, copy)
    files = sorted(copy.glob("rounds/*/sigs/*.parquet"))
    assert files
    for path in files:
        table = pq.read_table(path)
        empty = pa.array([[] for _ in range(table.num_rows)], table.schema.field("redacted").type)
        table = table.set_column(table.schema.get_field_index("redacted"), "redacted", empty)
        pq.write_table(table.cast(SIGS_WRITTEN.with_metadata({"redactor": version})), path)
    return settings.model_copy(update={"data_dir": str(copy)})


def test_the_export_replaces_what_the_dedup_step_found_with_its_own_detectors_only(placed_round, tmp_path):
    """The export replaces the values where the dedup step found them, without a scan: told by this version that no
    page has one, it leaves the placed values (nothing was scanned); told so by another version, it scans every page
    and gives the same export as the spans do."""
    from webrecall.core.text.redact import VERSION

    settings, rnd, placed, raw = placed_round
    secret = next(p.value for values in placed.values() for p in values)
    trusted = {r["url"]: r for r in export_rows(_sigs_rewritten(settings, tmp_path, version=VERSION), rnd.number)}
    assert secret in "\n".join(r["text"] for r in trusted.values())
    assert all(r["redactions"] == {} for r in trusted.values())
    stale = {r["url"]: r for r in export_rows(_sigs_rewritten(settings, tmp_path, version="0"), rnd.number)}
    assert stale == {r["url"]: r for r in export_rows(settings, rnd.number)}
    assert secret not in "\n".join(r["text"] for r in stale.values())
