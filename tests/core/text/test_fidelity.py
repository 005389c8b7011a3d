"""Fidelity measures: which code blocks a text keeps verbatim or at all, and its share of template lines."""

from __future__ import annotations

from webrecall.core.text.extract import parse
from webrecall.core.text.fidelity import code_blocks, code_counts, template_share

HTML = """<html><body><p>Intro text here.</p>
<pre>def f(x):
    return x + 1
</pre>
<pre>no indentation at all</pre>
<div><pre>class A:
    a = 1
    b = 2
    <pre>  nested is part of the outer block</pre></pre></div>
</body></html>"""


def test_blocks_are_the_outermost_pre_with_indented_lines():
    blocks = code_blocks(parse(HTML))
    assert [b[0] for b in blocks] == ["def f(x):", "class A:"]


def test_verbatim_needs_the_leading_whitespace_present_does_not():
    blocks = code_blocks(parse(HTML))
    exact = "def f(x):\n    return x + 1\nclass A:\n    a = 1\n    b = 2\n      nested is part of the outer block"
    assert code_counts(blocks, exact).verbatim == 2
    flattened = "def f(x):\nreturn x + 1\nclass A: a = 1\nb = 2"
    counts = code_counts(blocks, flattened)
    assert (counts.blocks, counts.verbatim, counts.present) == (2, 0, 1)  # f's lines are there, re-flowed
    assert code_counts(blocks, "").present == 0


def test_template_lines_are_those_on_half_of_a_sites_pages():
    pages = [("a.example", f"Home | Docs\nPage {i} body\nline {i}") for i in range(4)]
    pages += [("b.example", "only\nthree pages")] * 3  # too few pages to judge: not counted
    share, lines = template_share(pages)
    assert lines == 12 and share == 4 / 12


def test_code_fences_are_not_template_lines():
    pages = [("a.example", f"```\ncode {i}\n```\nprose {i}") for i in range(4)]
    assert template_share(pages) == (0.0, 8)
