"""Issue 17: on the Label and Review pages a pattern's page count across the whole crawl (from the crawl's URL index,
here the columnar index of CC-MAIN-DEV's 8 WARC files) sits beside the count in the round's sample (2 files)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.annotator.conftest import APP, KERNEL, POSTGRES, World, dev_pages_under, disagree_on_postgres, title
from webrecall.core.labelling import item_view


def _label_page(user: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["user"] = user
    return at.run()


def test_label_page_shows_the_whole_crawls_count_beside_the_samples(world: World, dev_index: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBRECALL_INDEX_BASE_URL", dev_index)
    at = _label_page("alice")
    assert title(at) == KERNEL and not at.exception
    table = next(d.value for d in at.dataframe if "in crawl" in d.value.columns)
    view = item_view.item_view(world.settings, 1, KERNEL)
    whole = [dev_pages_under(p["pattern"]) for p in view["proposals"]]
    assert list(table["in crawl"]) == whole and list(table["pages"]) == [p["pages"] for p in view["proposals"]]
    assert whole[0] > table["pages"][0] and all(table["in crawl"] >= table["pages"])  # 8 files, the sample's 2
    caption = next(c.value for c in at.caption if "across the whole crawl" in c.value)
    assert caption.startswith(f"Under `{KERNEL}/`: {table['pages'][0]:,} pages in this round's sample, "
                              f"{whole[0]:,} pages across")  # fmt: skip


def test_without_an_index_the_label_page_shows_the_samples_count_only(world: World) -> None:
    at = _label_page("alice")
    assert not any("across the whole crawl" in c.value for c in at.caption) and not at.exception
    assert not any("in crawl" in d.value.columns for d in at.dataframe)


def test_review_page_shows_the_whole_crawls_count_beside_the_rounds(world: World, dev_index: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    disagree_on_postgres(world)
    whole = dev_pages_under(f"{POSTGRES}/")
    monkeypatch.setenv("WEBRECALL_INDEX_BASE_URL", dev_index)
    at = _label_page("rita").switch_page("app_pages/review.py").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["In the whole crawl"] == f"{whole:,}" and not at.exception
    assert whole > int(metrics["Pages (round 1)"].replace(",", ""))  # the round read 2 of the 8 files


def test_without_an_index_the_review_page_shows_the_rounds_count_only(world: World) -> None:
    disagree_on_postgres(world)
    at = _label_page("rita").switch_page("app_pages/review.py").run()
    labels = [m.label for m in at.metric]
    assert "Pages (round 1)" in labels and "In the whole crawl" not in labels and not at.exception
