"""Code-structure signals on real DEV pages: a documentation page with <pre> blocks against a general page."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CORPUS
from tests.core.conftest import DEV_LABELS, _body
from webrecall.core.text.features import (
    decode,
    page_text,
    prefix,
    spec,
    spec_id,
    split_signals,
    tokens,
    with_signals,
)

CODE_PAGE = "https://docs.djangoproject.com/en/3.2/topics/db/sql/"
GENERAL_PAGE = "https://observer.com/2023/11/bernard-arnault-lvmh-louvre-chardin/"


def _html(url: str) -> str:
    for row in map(json.loads, DEV_LABELS.open(encoding="utf-8")):
        if row["url"] == url:
            return _body(CORPUS / row["warc"], row["offset"], row["length"])
    raise KeyError(url)


@pytest.fixture(scope="module")
def pages() -> dict[str, tuple[str, str]]:
    got = {url: page_text(_html(url)) for url in (CODE_PAGE, GENERAL_PAGE)}
    return {url: (g.text, g.signals) for url, g in got.items()}


def test_code_page_signals(pages: dict[str, tuple[str, str]]) -> None:
    text, signals = pages[CODE_PAGE]
    s = decode(signals)
    assert (s["pre"], s["code"], s["hl"]) == (23, 73, 46)
    assert s["bl"] == 95 and s["bcl"] >= 60  # most lines inside its <pre> blocks look like code
    assert s["bjl"] <= 1 and s["bpl"] <= 1
    assert 0.2 < s["bc"] / s["tc"] < 0.35
    toks = tokens(signals, text)
    assert "\u2042pre5" in toks and "\u2042nohtml1" not in toks


def test_general_page_signals(pages: dict[str, tuple[str, str]]) -> None:
    text, signals = pages[GENERAL_PAGE]
    s = decode(signals)
    assert (s["pre"], s["code"], s["hl"], s["bc"], s["bl"]) == (0, 0, 0, 0, 0)
    assert s["tc"] > 5000
    toks = tokens(signals, text)
    assert "\u2042pre0" in toks and "\u2042tcl0" in toks
    assert not any(t.startswith("\u2042bcl") for t in toks)  # no block lines: no block-shape tokens


def test_same_text_as_the_plain_extractor(pages: dict[str, tuple[str, str]]) -> None:
    from webrecall.core.text.extract import extract

    for url, (text, _) in pages.items():
        assert text == extract(_html(url), "resiliparse")


def test_marker_round_trip_and_spec() -> None:
    assert split_signals(with_signals("body\ntext", "pre=1 code=2")) == ("pre=1 code=2", "body\ntext")
    assert split_signals("plain") == ("", "plain")
    assert with_signals("plain", "") == "plain"
    assert prefix(None, "pre=1", "x") == ""
    assert prefix(spec(3), "pre=1", "x").split().count("\u2042pre1") == 3
    assert spec_id(None) == "" and spec_id(spec(3)) != spec_id(spec(4))
    with pytest.raises(ValueError, match="code signals v"):
        prefix({"version": 999, "repeat": 1}, "", "x")


def test_index_pass_stores_signals(tmp_path) -> None:
    from webrecall.core.page import Stats
    from webrecall.core.pipeline.passes import index_warc
    from webrecall.core.storage.store import Store

    warc = str(CORPUS / "fixtures" / "real-cc-combined.warc.gz")
    store = Store(str(tmp_path))
    table = store.read_table(index_warc(warc, store=store, stats=Stats()))
    assert "signals" in table.column_names
    signals = table.column("signals").to_pylist()
    assert len(signals) == table.num_rows > 0
    assert all(s == "" or "pre=" in s for s in signals)


def test_page_text_counts_code_blocks_of_the_text() -> None:
    got = page_text(_html(CODE_PAGE))
    assert got.code.blocks > 0 and got.code.present == got.code.blocks  # resiliparse keeps every block
    assert page_text(_html(GENERAL_PAGE)).code.blocks == 0


def test_a_failed_text_keeps_the_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """One failure behaviour for the index pass and the read-back: the parts computed before a failure stay."""
    from webrecall.core.text import extract

    def broken(html: str) -> str:
        raise RuntimeError("extractor failed on this page")

    monkeypatch.setitem(extract.EXTRACTORS, "broken", extract.Extractor("broken", "webrecall", broken))
    html = _html(CODE_PAGE)
    whole, failed = page_text(html), page_text(html, "broken")
    assert failed.text == "" and failed.signals == whole.signals != ""
    assert failed.code.blocks == whole.code.blocks > 0 and failed.code.present == 0  # the lost text lost them


def test_an_unparseable_page_gives_nothing() -> None:
    got = page_text("<html><body>\ud800<pre>  x = 1</pre></body></html>")  # a lone surrogate: no parse
    assert (got.text, got.signals, got.code.blocks) == ("", "", 0)
    with pytest.raises(ValueError, match="unknown extractor"):
        page_text("<p>x</p>", "no-such-extractor")


def test_the_operator_pre_test_never_hides_a_match(pages: dict[str, tuple[str, str]]) -> None:
    """`_OP_CHARS` is a cheap necessary condition of `_OPERATOR`: on every line of real pages, and on one example of
    each operator form, a line the pre-test rejects is a line the full pattern rejects."""
    from webrecall.core.text.features import _OP_CHARS, _OPERATOR, _has_operator

    forms = ["a == b", "a && b", "a || b", "p->x", "x => y", "std::vec", "i += 1", "i -= 1", "f(x", "if (x) {",
             "end;", "  }", "a[0]", "os.path.join("]  # fmt: skip
    lines = forms + [ln.strip() for text, _ in pages.values() for ln in text.splitlines() if ln.strip()]
    matched = [ln for ln in lines if _OPERATOR.search(ln)]
    assert all(_OPERATOR.search(f) for f in forms) and len(matched) > len(forms) + 20
    assert all(_OP_CHARS.search(ln) for ln in matched)
    assert [_has_operator(ln) for ln in lines] == [_OPERATOR.search(ln) is not None for ln in lines]


TRANSLATED = ["mod/mod_dav_lock.html", "mod/mod_ident.html", "mod/mod_so.html", "invoking.html", "stopping.html"]
"""Apache httpd manual pages that DEV has in English and in an up-to-date Japanese translation (same examples)."""


def _shape_tokens(url: str) -> dict[str, str]:
    got = page_text(_html(url))
    return {t[1:4].rstrip("0123456789"): t for t in tokens(got.signals, got.text)}


def test_line_shapes_and_markup_carry_across_languages() -> None:
    """A page and its translation into a language written without spaces get the same code signals: the same
    markup counts, and prose lines counted as prose (Japanese sentences have no spaces and end in U+3002)."""
    for path in TRANSLATED:
        en = _shape_tokens(f"https://httpd.apache.org/docs/2.4/en/{path}")
        ja = _shape_tokens(f"https://httpd.apache.org/docs/2.4/ja/{path}")
        assert ja["tpl"] != "\u2042tpl0", path  # some of its lines are prose
        assert abs(int(en["tpl"][4:]) - int(ja["tpl"][4:])) <= 1, (path, en["tpl"], ja["tpl"])
        assert abs(int(en["tcl"][4:]) - int(ja["tcl"][4:])) <= 1, (path, en["tcl"], ja["tcl"])
        assert {k: en[k] for k in ("pre", "cod", "hl", "til")} == {k: ja[k] for k in ("pre", "cod", "hl", "til")}
