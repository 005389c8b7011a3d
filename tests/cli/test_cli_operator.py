"""What an operator reads from the CLI after a real round: tables, one domain view (same as the API), safe exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from tests.conftest import CORPUS
from webrecall.api.main import create_app
from webrecall.cli.main import app
from webrecall.core import db as dbm
from webrecall.core.settings import Settings

WARC = CORPUS / "crawl-data" / "CC-MAIN-DEV" / "segments" / "1716000000000.0" / "warc" / "CC-MAIN-DEV-00001.warc.gz"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One finished round over a DEV WARC file (500 HTML pages), started through the CLI."""
    data = tmp_path_factory.mktemp("operator")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEBRECALL_DATA_DIR", str(data))
        mp.setenv("WEBRECALL_DATABASE_URL", "")
        out = CliRunner().invoke(app, ["round", "start", "--warc", str(WARC), "--seed-pattern", "docs.python.org/",
                                       "--seed-pattern", "www.postgresql.org/docs/", "--processes", "1", "--json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["status"] == "done"
    return Settings(data_dir=str(data), database_url="")


@pytest.fixture
def cli(done: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WEBRECALL_DATA_DIR", done.data_dir)
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", "")
    return CliRunner()


def _domains(settings: Settings) -> list[dbm.DomainStat]:
    with dbm.session(settings.db_url) as db:
        return list(db.exec(select(dbm.DomainStat)))


def test_domains_sorts_says_how_many_and_keeps_names_whole(done: Settings, cli: CliRunner) -> None:
    rows = _domains(done)
    out = cli.invoke(app, ["domains", "--sort", "pages", "--limit", "5", "--json"])
    data = json.loads(out.stdout)
    assert data["count"] == len(rows) and len(data["data"]) == 5
    assert [d["pages"] for d in data["data"]] == sorted((d.pages for d in rows), reverse=True)[:5]
    table = cli.invoke(app, ["domains", "--sort", "recalled_chars", "--limit", str(len(rows))], env={"COLUMNS": "120"})
    assert table.exit_code == 0 and f"{len(rows)} of {len(rows)} domains, by recalled_chars" in table.output
    assert all(d.domain in table.output for d in rows)  # every name whole on its line where there is room
    assert f"5 of {len(rows)} domains" in cli.invoke(app, ["domains", "--limit", "5"]).output
    bad = cli.invoke(app, ["domains", "--sort", "tokens"])
    assert bad.exit_code == 2 and "unknown sort 'tokens'" in bad.output


@pytest.mark.parametrize("args", [["round", "list"], ["round", "status", "1"], ["round", "report"], ["domains"],
                                  ["domains", "show", "docs.python.org"], ["annotators", "list"], ["gold", "list"]])
def test_tables_cut_no_header_or_number_in_80_columns(cli: CliRunner, args: list[str]) -> None:
    out = cli.invoke(app, args, env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    assert "…" not in out.output, out.output  # a column may wrap at a space, never cut a word short ("pag…")
    assert max(len(line) for line in out.output.splitlines()) <= 80


def test_export_prints_a_table_unless_asked_for_json(cli: CliRunner, tmp_path: Path) -> None:
    out = cli.invoke(app, ["export", "--round", "1", "--output", str(tmp_path / "x.jsonl")])
    assert out.exit_code == 0 and "round 1 export" in out.output and "{" not in out.output, out.output


def test_round_report_is_tables_and_json(done: Settings, cli: CliRunner) -> None:
    out = cli.invoke(app, ["round", "report"])
    assert out.exit_code == 0, out.output
    assert "round 1 report: done" in out.output and "first round:" in out.output and "related domains:" in out.output
    assert "{" not in out.output and '"' not in out.output  # tables, no JSON blobs
    data = json.loads(cli.invoke(app, ["round", "report", "--json"]).stdout)
    assert data["growth"]["previous_round"] is None and data["growth"]["new_pages"] == data["recalled"]
    related = {d.domain for d in _domains(done) if d.related}
    assert {d["domain"] for d in data["domains"]["new_domains"]} <= related


def test_round_report_table_says_what_an_export_keeps(cli: CliRunner, tmp_path: Path) -> None:
    data = json.loads(cli.invoke(app, ["round", "report", "--json"]).stdout)
    kept, pages = data["dedup"]["round"]["kept"], data["dedup"]["round"]["pages"]
    out = cli.invoke(app, ["round", "report"], env={"COLUMNS": "200"}).output
    assert "dedup: what an export keeps" in out and "copies of a URL" in out and "near duplicates" in out
    words = " ".join(out.split())  # the caption wraps at the table's width
    assert f"{data['recalled']:,} pages recalled" in words and f"an export writes the {kept:,} kept" in words
    row = next(line for line in out.splitlines() if "kept: exported" in line)
    assert f"{kept:,}" in row and f"{pages:,}" in next(line for line in out.splitlines() if line.strip("│ ")
                                                      .startswith("pages "))  # fmt: skip
    export = tmp_path / "x.jsonl"
    assert cli.invoke(app, ["export", "--round", "1", "--output", str(export)]).exit_code == 0
    assert len(export.read_text().splitlines()) == kept  # the count the table explains


def test_domains_show_is_the_apis_view_of_a_queued_domain(done: Settings, cli: CliRunner) -> None:
    with dbm.session(done.db_url) as db:
        item = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.status == "pending")
                       .order_by(dbm.QueueItem.priority.desc())).first()  # fmt: skip
    assert item is not None
    out = cli.invoke(app, ["domains", "show", item.domain.upper(), "--json"])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.stdout)
    with TestClient(create_app(done)) as c:
        api = c.get(f"/domains/{item.domain}").json()
    assert shown == api
    assert api["round"] == 1 and api["history"][0]["pages"] > 0 and api["queue"][0]["id"] == item.id
    assert api["proposals"] and api["proposals"][0]["pattern"] == f"{item.domain}/"
    assert sum(p["pages"] for p in api["proposals"] if p["depth"] == 0) == api["history"][0]["pages"]
    table = cli.invoke(app, ["domains", "show", item.domain])
    for title in ("every round", "URL-pattern proposals in round 1", "queue items", "labels on this host"):
        assert title in table.output
    missing = cli.invoke(app, ["domains", "show", "nowhere.example"])
    assert missing.exit_code == 2 and "no page in any round" in missing.output


def test_export_refuses_bad_input_and_never_replaces_a_good_file(done: Settings, cli: CliRunner,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    target = tmp_path / "pages.jsonl"
    good = cli.invoke(app, ["export", "--round", "1", "--output", str(target), "--json"])
    assert good.exit_code == 0, good.output
    content = target.read_bytes()
    assert json.loads(good.stdout)["rows"] == len(content.splitlines()) > 0
    for args, reason in [(["--min-score", "1.5"], "between 0 and 1"), (["--round", "7"], "no round 7"),
                         (["--format", "csv"], "unknown format")]:  # fmt: skip
        argv = ["export", "--round", "1", "--output", str(target), *args]
        out = cli.invoke(app, argv)
        assert out.exit_code == 2 and reason in out.output, (args, out.output)
        assert target.read_bytes() == content  # the good file is untouched
    out = cli.invoke(app, ["export", "--round", "1", "--output", "/nonexistent/dir/x.jsonl"])
    assert out.exit_code == 2 and "does not exist" in out.output and "Traceback" not in out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages.jsonl"]  # no temporary file left behind


def test_labels_round_trip_and_rounds_are_listed_newest_first(cli: CliRunner, tmp_path: Path) -> None:
    rows = [{"pattern": "docs.python.org/3/library/", "label": "code"},
            {"pattern": "example.com/", "label": "non-code"}]
    source = tmp_path / "labels.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli.invoke(app, ["labels", "import", str(source), "--annotator", "op"]).exit_code == 0
    target = tmp_path / "out.jsonl"
    assert cli.invoke(app, ["labels", "export", "--output", str(target)]).exit_code == 0
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(r["pattern"], r["label"], r["annotator"]) for r in exported[-2:]] == [
        ("docs.python.org/3/library/", "code", "op"), ("example.com/", "non-code", "op")]
    assert [r["id"] for r in exported] == sorted(r["id"] for r in exported)  # the append-only log, oldest first
    listed = json.loads(cli.invoke(app, ["round", "list", "--json"]).stdout)
    assert [r["id"] for r in listed] == sorted((r["id"] for r in listed), reverse=True)
    assert listed[0]["status"] == "done"
