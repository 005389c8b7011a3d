"""The CLI through typer's runner and as a real subprocess (the interfaces operators' scripts rely on)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import CORPUS, ROOT
from tests.core.urls.test_patterns import UNSAFE
from webrecall.cli.main import app
from webrecall.core import db as dbm
from webrecall.core.settings import Settings

DEV = CORPUS / "crawl-data" / "CC-MAIN-DEV" / "segments" / "1716000000000.0" / "warc"


@pytest.fixture
def env(tmp_path, monkeypatch):
    values = {"WEBRECALL_DATA_DIR": str(tmp_path / "data"), "WEBRECALL_DATABASE_URL": ""}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def run(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_init_is_safe_to_rerun(env):
    first, second = run("init"), run("init")
    assert first["status"] == second["status"] == "ok"
    assert first["database"].endswith("webrecall.db")


def test_labels_import_accepts_the_corpus_label_files_and_pattern_files(env, tmp_path):
    n = sum(1 for line in (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").open() if line.strip())
    assert run("labels", "import", str(CORPUS / "labels" / "CC-MAIN-DEV.jsonl"))["imported"] == n
    patterns = tmp_path / "p.jsonl"
    patterns.write_text(json.dumps({"pattern": "%ask.csdn.net/questions%", "label": "code", "annotator": "a"}) + "\n")
    assert run("labels", "import", str(patterns))["imported"] == 1


def test_bad_input_exits_2_with_a_reason(env, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"pattern": "docs.python.org/", "label": "perhaps"}\n')
    result = CliRunner().invoke(app, ["labels", "import", str(bad)])
    assert result.exit_code == 2 and "perhaps" in result.output
    result = CliRunner().invoke(app, ["round", "start", "--warc", str(DEV / "CC-MAIN-DEV-00000.warc.gz")])
    assert result.exit_code == 2 and "needs seeds" in result.output
    result = CliRunner().invoke(app, ["round", "status", "7"])
    assert result.exit_code == 2 and "no round 7" in result.output


def test_round_start_refuses_while_another_round_is_unfinished(env):
    """One round at a time, as the API says it (409): the CLI starts rounds through the same core function."""
    run("init")
    settings = Settings()
    with dbm.session(settings.db_url) as db:
        db.add(dbm.Round(number=1, status="indexing"))
        db.commit()
    start = ["round", "start", "--warc", str(DEV / "CC-MAIN-DEV-00000.warc.gz"), "--seed-pattern", "docs.python.org/"]
    result = CliRunner().invoke(app, start)
    assert result.exit_code == 2 and "round 1 is indexing; cancel it first" in result.output
    assert [r["id"] for r in run("round", "list")] == [1]  # no round 2 was written


@pytest.mark.slow
def test_round_start_status_domains_export_as_a_subprocess(env, tmp_path):
    cmd = [sys.executable, "-m", "webrecall.cli.main"]
    environ = {**os.environ, **env}
    out = subprocess.run(
        [*cmd, "round", "start", "--warc", str(DEV / "CC-MAIN-DEV-00001.warc.gz"),
         "--seed-pattern", "docs.python.org/", "--seed-pattern", "www.postgresql.org/docs/",
         "--processes", "1", "--json"],
        capture_output=True, text=True, env=environ, cwd=ROOT, check=True,
    )  # fmt: skip
    summary = json.loads(out.stdout)
    for key in ("id", "status", "pages", "html_pages", "recalled", "domains", "errors", "pages_per_s"):
        assert key in summary
    assert summary["status"] == "done" and summary["html_pages"] == 500 and summary["recalled"] > 0
    status = run("round", "status")
    assert status["id"] == summary["id"] and status["tasks"]["recall"] == {"done": 1}
    assert status["progress"] == {"index": "1/1 WARC files", "recall": "1/1 WARC files"}
    assert status["eta_seconds"] is None  # a finished round has nothing left
    doms = run("domains", "--related")
    assert doms["count"] >= 1 and all(d["fraction"] > 0.1 for d in doms["data"])
    target = tmp_path / "out.jsonl"
    exported = run("export", "--round", "1", "--format", "jsonl", "--output", str(target))
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert exported["rows"] == len(rows) == summary["recalled"]
    assert {"url", "domain", "text", "score", "round", "model", "text_extractor"} <= set(rows[0])
    # the cascade margin, calibrated on labelled pages of another WARC with this round's model
    cal = run("calibrate", "--labels", str(CORPUS / "labels" / "CC-MAIN-DEV.jsonl"),
              "--warc", str(DEV / "CC-MAIN-DEV-00002.warc.gz"), "--target", "0.99")  # fmt: skip
    assert cal["pages"] == 500 and cal["reference_pages"] > 0 and cal["model"]
    assert cal["kept_share"] >= 0.99 and 0 <= cal["margin"] <= cal["threshold"]
    shares = [p["kept_share"] for p in cal["curve"]]
    assert shares == sorted(shares) and shares[-1] == 1.0  # a wider band only adds pages; all of it keeps all
    assert cal["margin"] == min(p["margin"] for p in cal["curve"] if p["kept_share"] >= 0.99)


def test_round_cancel_marks_the_unstarted_tasks(env, corpus_server):
    from sqlmodel import select

    from webrecall.core import db as dbm
    from webrecall.core.lifecycle.spec import RoundSpec, create_round
    from webrecall.core.settings import Settings

    settings = Settings()
    dbm.migrate(settings.db_url)
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=2,
                                           seed_patterns=["docs.python.org/"]))  # fmt: skip
    assert run("round", "cancel", str(rnd.number)) == {"id": rnd.number, "status": "cancelled"}
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rnd.id)).all()
    assert [t.status for t in tasks] == ["cancelled"] * 4
    status = run("round", "status", str(rnd.number))
    assert status["tasks"]["recall"] == {"cancelled": 2} and status["eta_seconds"] is None


@pytest.mark.parametrize(("bad", "reason"), UNSAFE)
def test_unsafe_patterns_are_refused_by_import_and_round_start(env, tmp_path, bad, reason):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"pattern": "docs.python.org/", "label": "code"}) + "\n"
                    + json.dumps({"pattern": bad, "label": "code"}) + "\n")  # fmt: skip
    result = CliRunner().invoke(app, ["labels", "import", str(rows)])
    assert result.exit_code == 2 and reason in " ".join(result.output.split()), result.output
    assert "row 2" in result.output
    result = CliRunner().invoke(app, ["round", "start", "--warc", str(DEV / "CC-MAIN-DEV-00000.warc.gz"),
                                      "--seed-pattern", bad])  # fmt: skip
    assert result.exit_code == 2 and reason in " ".join(result.output.split()), result.output


def test_labels_retract_from_the_cli(env, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"pattern": "docs.python.org/", "label": "code"}) + "\n")
    run("labels", "import", str(rows))
    (label,) = _export(tmp_path)
    done = run("labels", "retract", str(label["id"]), "--reason", "imported by mistake")
    assert (done["retracted"], done["pattern"], done["label"], done["reason"]) == \
        (label["id"], "docs.python.org/", "code", "imported by mistake")  # fmt: skip
    history = _export(tmp_path)
    assert [(r["source"], r["shown"].get("undoes"), r["reason"]) for r in history[1:]] == \
        [("undo", label["id"], "imported by mistake")]  # fmt: skip
    for args, reason in [([str(label["id"]), "--reason", "again"], "already retracted"),
                         ([str(done["id"]), "--reason", "x"], "itself a retraction"),
                         (["4242", "--reason", "x"], "no label 4242"), ([str(label["id"]), "--reason", " "], "reason")]:
        result = CliRunner().invoke(app, ["labels", "retract", *args])
        assert result.exit_code == 2 and reason in result.output, result.output


def _export(tmp_path) -> list[dict]:
    out = tmp_path / "history.jsonl"
    assert CliRunner().invoke(app, ["labels", "export", "--output", str(out)]).exit_code == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.slow
def test_a_round_over_a_corrupt_warc_says_what_it_lost(env, tmp_path):
    from tests.core.crawl.test_resync import _corrupt, _members

    data = (DEV / "CC-MAIN-DEV-00001.warc.gz").read_bytes()
    offset, length, _ = next(m for m in _members(data) if m[2].endswith("response") and m[1] > 6000
                             and m[0] > len(data) // 2)  # fmt: skip
    broken = tmp_path / "CC-MAIN-DEV-00001.warc.gz"
    broken.write_bytes(_corrupt(data, offset + 1000))
    summary = run("round", "start", "--warc", str(broken), "--seed-pattern", "docs.python.org/",
                  "--seed-pattern", "www.postgresql.org/docs/", "--processes", "1")  # fmt: skip
    assert summary["status"] == "done" and summary["html_pages"] == 499
    assert summary["errors"] == {"corrupt": 1, "resync_bytes_skipped": length}
    report = run("round", "report")
    assert report["errors"] == summary["errors"]
    table = CliRunner().invoke(app, ["round", "report"], env={"COLUMNS": "200"})
    assert "corrupt 1, resync_bytes_skipped" in table.output


def _is_table(output: str) -> bool:
    return "│" in output and "{" not in output and '"' not in output


def test_commands_print_tables_unless_asked_for_json(env, tmp_path, corpus_server):
    from webrecall.core.lifecycle.spec import RoundSpec, create_round
    from webrecall.core.settings import Settings

    out = CliRunner().invoke(app, ["init"])
    assert out.exit_code == 0 and _is_table(out.output) and "webrecall init" in out.output, out.output
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"pattern": "docs.python.org/", "label": "code"}) + "\n")
    out = CliRunner().invoke(app, ["labels", "import", str(rows)])
    assert out.exit_code == 0 and _is_table(out.output) and "imported" in out.output, out.output
    out = CliRunner().invoke(app, ["annotators", "add", "carol", "--password", "carol-password"])
    assert out.exit_code == 0 and _is_table(out.output) and "carol" in out.output, out.output
    rnd = create_round(Settings(), RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1,
                                             seed_patterns=["docs.python.org/"]))  # fmt: skip
    out = CliRunner().invoke(app, ["round", "cancel", str(rnd.number)])
    assert out.exit_code == 0 and _is_table(out.output) and "cancelled" in out.output, out.output
