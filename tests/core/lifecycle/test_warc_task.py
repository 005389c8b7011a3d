"""A WARC's page cache is keyed by the extractor that made it (its name and version): a data dir reused with another
extractor, or another version of it, indexes the WARC again instead of scoring the old text."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import CACHE_ID
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.warc_task import TaskResult, process_warc_task
from webrecall.core.queries import pending_tasks, warc_tasks
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import cache_path
from webrecall.core.storage.store import Store, warc_id
from webrecall.core.text import extract

SEEDS = ["docs.python.org/"]


def _index(settings: Settings, corpus_server: str) -> tuple[TaskResult, str]:
    """A new round over the first DEV WARC file, its index task run: (result, WARC location)."""
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=1,
                                           seed_patterns=SEEDS))  # fmt: skip
    (task_id,) = pending_tasks(settings, rnd.id or 0, "index")
    location = next(t.warc_url for t in warc_tasks(settings, rnd.id or 0) if t.id == task_id)
    return process_warc_task(settings, task_id), location


def test_another_extractor_indexes_the_warc_again(settings: Settings, corpus_server: str) -> None:
    first, location = _index(settings, corpus_server)
    again, _ = _index(settings, corpus_server)
    plain_settings = settings.model_copy(update={"score_extractor": "resiliparse-plain",
                                                 "text_extractor": "resiliparse-plain"})  # fmt: skip
    plain, _ = _index(plain_settings, corpus_server)
    assert first.status == again.status == plain.status == "done"
    assert "cache_hit" not in first.stats and again.stats["cache_hit"] == 1  # the same extractor reuses its cache
    assert "cache_hit" not in plain.stats and plain.stats["records"] == first.stats["records"] > 0
    store = Store(settings.data_dir)
    fenced = store.read_table(cache_path(location, CACHE_ID), columns=["text"])["text"].to_pylist()
    unfenced = store.read_table(cache_path(location, extract.get_extractor("resiliparse-plain").id),
                                columns=["text"])["text"].to_pylist()  # fmt: skip
    assert any("```" in t for t in fenced) and not any("```" in t for t in unfenced)


def test_another_version_of_the_extractor_indexes_the_warc_again(settings: Settings, corpus_server: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    first, location = _index(settings, corpus_server)
    installed = extract.get_extractor("resiliparse")
    upgraded = dataclasses.replace(installed, package="trafilatura")  # the same extractor under another version
    assert upgraded.name == installed.name and upgraded.id != installed.id == CACHE_ID
    monkeypatch.setitem(extract.EXTRACTORS, "resiliparse", upgraded)
    second, _ = _index(settings, corpus_server)
    assert "cache_hit" not in second.stats and second.stats["records"] == first.stats["records"] > 0
    assert Store(settings.data_dir).exists(cache_path(location, upgraded.id))


def test_a_cache_written_before_the_key_had_the_extractor_is_not_read(settings: Settings, corpus_server: str) -> None:
    first, location = _index(settings, corpus_server)
    store = Store(settings.data_dir)
    legacy = f"cache/{warc_id(location)}.parquet"  # the key before it named the extractor
    store.fs.mv(store.path(cache_path(location, CACHE_ID)), store.path(legacy))
    second, _ = _index(settings, corpus_server)
    assert "cache_hit" not in second.stats and second.stats["records"] == first.stats["records"] > 0


def test_a_page_cache_hit_counts_the_records_and_pages_of_the_file(settings: Settings, corpus_server: str) -> None:
    """A later round over the same file reads no record, yet its `pages` are the file's, not 0 (or a mix)."""
    first, _ = _index(settings, corpus_server)
    again, _ = _index(settings, corpus_server)
    assert "cache_hit" not in first.stats and again.stats["cache_hit"] == 1
    assert (again.stats["records"], again.stats["html_pages"]) == (first.stats["records"], first.stats["html_pages"])
    rows = {t.id: t for rnd in (1, 2) for t in warc_tasks(settings, rnd) if t.phase == "index"}
    assert [(r.pages, r.html_pages) for r in rows.values()] == [(first.stats["records"], 500)] * 2
