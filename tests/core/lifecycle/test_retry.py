"""A round that cannot finish says why at once, and a failed round is retried without redoing finished work."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from tests.api.conftest import free_port
from tests.conftest import CORPUS
from webrecall.cli.main import app
from webrecall.core import db as dbm
from webrecall.core.errors import FatalError
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.settings import Settings


@pytest.fixture
def plain_http_server() -> Iterator[str]:
    """`python3 -m http.server` over the corpus: a real server that ignores `Range` (answers 200, whole file)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=CORPUS,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "README.md", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def env(tmp_path, monkeypatch) -> Settings:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WEBRECALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", "")
    settings = Settings()
    dbm.migrate(settings.db_url)
    return settings


def test_a_source_that_ignores_range_is_refused_before_any_work(env: Settings, plain_http_server: str) -> None:
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=plain_http_server, limit=2, seed_patterns=["docs.python.org/"])
    with pytest.raises(FatalError, match="ignores HTTP Range requests .* got HTTP 200"):
        create_round(env, spec)
    with dbm.session(env.db_url) as db:
        assert db.exec(select(func.count()).select_from(dbm.Round)).one() == 0  # nothing created, nothing run
    out = CliRunner().invoke(app, ["round", "start", "--crawl", "CC-MAIN-DEV", "--base-url", plain_http_server,
                                   "--limit", "1", "--seed-pattern", "docs.python.org/"])  # fmt: skip
    assert out.exit_code == 2 and "ignores HTTP Range" in out.output and "webrecall mirror" in out.output


@pytest.mark.slow
def test_round_status_shows_why_a_round_failed_and_round_run_retries_it(env: Settings, corpus_httpd) -> None:  # type: ignore[no-untyped-def]
    # seeds that match no page of these files: the round indexes both WARC files, then cannot train
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_httpd.url, limit=2, seed_patterns=["nowhere.example/"])
    rnd = create_round(env, spec)
    with pytest.raises(FatalError, match="not enough seed pages"):
        run_round(env, rnd.id or 0, processes=1)
    shown = CliRunner().invoke(app, ["round", "status", str(rnd.number)])
    assert shown.exit_code == 0 and "failed" in shown.output and "not enough seed pages" in shown.output
    # the operator adds what was missing (labels) and retries: the index pass is not read again
    labels = [{"pattern": p, "label": "code"} for p in ("docs.python.org/", "www.postgresql.org/docs/")]
    with dbm.session(env.db_url) as db:
        from webrecall.core.label_store import import_labels

        import_labels(db, labels, annotator="operator")
    corpus_httpd.clear()
    out = CliRunner().invoke(app, ["round", "run", str(rnd.number), "--processes", "1", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["status"] == "done" and summary["error"] == "" and summary["html_pages"] == 1000
    with dbm.session(env.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rnd.id)).all()
    warc_tasks = {(t.phase, t.status, t.attempts) for t in tasks if t.phase in ("index", "recall")}
    assert warc_tasks == {("index", "done", 1), ("recall", "done", 1)}  # the finished WARC tasks were not run again
    assert not [h for h in corpus_httpd.paths(".warc.gz") if h.range is None]  # no WARC streamed again
    again = CliRunner().invoke(app, ["round", "run", str(rnd.number)])
    assert again.exit_code == 2 and "already done" in again.output


BROKEN = {"missing.warc.gz": None, "empty.warc.gz": b"", "error-page.warc.gz": b"<html><body>Denied</body></html>",
          "whole-file.warc.gz": (CORPUS / "fixtures/warcio/example-bad-non-chunked.warc.gz").read_bytes()}  # fmt: skip
"""WARC files as a source can break them: gone (404), an empty download, an error page served in its place (not
gzip), one gzip stream over the whole file (not one member per record)."""
REASONS = ("not found (HTTP 404", "empty: not one WARC record", "not a WARC file", "not a per-record gzip WARC file")


@pytest.fixture
def broken_source(tmp_path):  # type: ignore[no-untyped-def]
    """The mirror over the corpus, with an overlay holding the broken files; `fix()` puts DEV WARC files there."""
    from webrecall.mirror.server import serve

    overlay = tmp_path / "overlay"
    (overlay / "broken").mkdir(parents=True)
    for name, data in BROKEN.items():
        if data is not None:
            (overlay / "broken" / name).write_bytes(data)
    mirror, url = serve(str(CORPUS), index_dir=str(overlay))
    dev = sorted((CORPUS / "crawl-data/CC-MAIN-DEV/segments").glob("*/warc/*.warc.gz"))

    def fix() -> None:
        for name, warc in zip(BROKEN, dev, strict=False):
            (overlay / "broken" / name).unlink(missing_ok=True)
            (overlay / "broken" / name).symlink_to(warc)

    yield [f"{url}broken/{name}" for name in BROKEN], fix
    mirror.shutdown()
    mirror.server_close()


def fail_on_broken_files(settings: Settings, warcs: list[str]) -> dbm.Round:
    """A round over the broken files, run here: it fails saying that every file failed, and why each did."""
    from webrecall.core.lifecycle.progress import round_view

    rnd = create_round(settings, RoundSpec(warcs=warcs, seed_patterns=["docs.python.org/", "www.postgresql.org/docs/"]))
    with pytest.raises(FatalError, match=r"every WARC file failed \(4 of 4 in the index phase\)") as failure:
        run_round(settings, rnd.id or 0, processes=1)
    assert "not enough seed pages" not in str(failure.value)
    with dbm.session(settings.db_url) as db:
        failed = db.get(dbm.Round, rnd.id)
    assert failed is not None
    view = round_view(settings, failed)
    assert view.status == "failed" and view.errors["warc_skipped"] == 4
    assert [(f.warc, f.phase, f.status) for f in view.failed_files] == [(w, "index", "skipped") for w in warcs]
    for f, reason in zip(view.failed_files, REASONS, strict=True):
        assert reason in f.error and reason in view.error, (f, reason)
    return failed


@pytest.mark.slow
def test_broken_warc_files_are_named_with_their_reasons_and_round_run_reads_them_again(env: Settings, broken_source):  # type: ignore[no-untyped-def]
    warcs, fix = broken_source
    rnd = fail_on_broken_files(env, warcs)
    shown = CliRunner().invoke(app, ["round", "status", str(rnd.number)], env={"COLUMNS": "400"})
    assert shown.exit_code == 0 and all(w in shown.output for w in warcs), shown.output
    assert "every WARC file failed" in shown.output and "failed_files" in shown.output
    assert shown.output.count("index skipped: ") == 4
    fix()  # the operator repairs the source: the same URLs now serve DEV WARC files
    out = CliRunner().invoke(app, ["round", "run", str(rnd.number), "--processes", "1", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["status"] == "done" and summary["html_pages"] == 2000 and summary["failed_files"] == []
