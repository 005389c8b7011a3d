"""core.text.wettext: Common Crawl's WET text rule, checked against Common Crawl's own WET record of a real page."""

from __future__ import annotations

from tests.conftest import CORPUS
from webrecall.core.crawl.warc import iter_pages
from webrecall.core.crawl.wet import iter_wet
from webrecall.core.page import Stats
from webrecall.core.text.extract import parse
from webrecall.core.text.wettext import whole_text

WHIRLWIND = CORPUS / "fixtures" / "whirlwind"


def test_the_whirlwind_page_gives_common_crawls_wet_text_byte_for_byte():
    with (WHIRLWIND / "whirlwind.warc.gz").open("rb") as fh:
        (page,) = list(iter_pages(fh, warc_path="w", stats=Stats()))
    with (WHIRLWIND / "whirlwind.warc.wet.gz").open("rb") as fh:
        (doc,) = list(iter_wet(fh, wet_path="w", stats=Stats()))
    assert whole_text(parse(page.html)) == doc.text


def test_the_rule():
    html = ("<html><head><title> T  </title><style>p{}</style></head><body>\n  <nav><a href=/>Home</a> | <a>Docs</a>"
            "</nav><p>one&nbsp;&amp;\ttwo <b>bold</b><br>next</p><!-- note --><script>var x = 1;</script>"
            "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>"
            "<pre>def f():\n    return 1\n</pre><ul><li>x<li>y</ul><img alt=i>after</body></html>")  # fmt: skip
    assert whole_text(parse(html)) == (
        "T\nHome | Docs\none & two bold\nnext\na b\nc\ndef f():\n    return 1\nx\ny\nafter\n"
    )


def test_the_pre_filter_reads_the_head_or_windows_across_the_page():
    from webrecall.core.text.wettext import VIEW_CHARS, view

    text = "\n".join(f"line {i} " + "x" * 40 for i in range(1000))
    assert view(text, "head") == text[:VIEW_CHARS]
    spread = view(text, "spread")
    assert len(spread) <= VIEW_CHARS + 8 and "line 0 " in spread and "line 999 " in spread
    assert all(chunk.startswith("line ") for chunk in spread.split("\n")[1:] if chunk)  # windows start at lines
    assert view("short", "spread") == "short" == view("short", "head")
