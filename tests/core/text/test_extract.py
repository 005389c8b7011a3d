"""The kept text on real CC-MAIN-DEV pages: code blocks survive exactly, fenced, and the fences come off cleanly."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CORPUS
from tests.core.conftest import DEV_LABELS, _body
from webrecall.core.text.extract import FENCE, extract, get_extractor, parse, tree_text, unfence
from webrecall.core.text.fidelity import code_blocks, code_counts

ROWS = {r["url"]: r for r in map(json.loads, DEV_LABELS.open(encoding="utf-8"))}
FLASK = "https://flask.palletsprojects.com/en/2.2.x/patterns/methodoverrides/"
# pages whose indented <pre> blocks trafilatura (the kept text before) re-flows or drops
LOSSY = {
    "https://docs.python.org/3.11/library/operator.html": (3, 0),
    "https://www.postgresql.org/docs/15/ecpg-lo.html": (1, 0),
    "https://docs.sqlalchemy.org/en/14/core/defaults.html": (24, 21),
}


def html_of(url: str) -> str:
    row = ROWS[url]
    return _body(CORPUS / row["warc"], row["offset"], row["length"])


def test_code_blocks_come_out_fenced_with_their_indentation():
    text = extract(html_of(FLASK))
    assert (
        f"\n\n{FENCE}\nclass HTTPMethodOverrideMiddleware(object):\n    allowed_methods = frozenset([\n        'GET',\n"
        in text
    )
    assert "        return self.app(environ, start_response)\n" + FENCE + "\n\nTo use this with Flask" in text
    assert text.endswith(f"app.wsgi_app = HTTPMethodOverrideMiddleware(app.wsgi_app)\n{FENCE}")
    assert text.count(f"\n{FENCE}\n") + text.endswith(FENCE) == 4  # two blocks, each opened and closed


@pytest.mark.parametrize("url", [FLASK, *LOSSY])
def test_every_indented_line_survives_exactly_and_unfence_gives_the_plain_text(url):
    html = html_of(url)
    blocks = code_blocks(parse(html))
    fenced = extract(html)
    lines = set(fenced.splitlines())
    for block in blocks:
        assert all(line in lines for line in block if line[:1] in (" ", "\t") and line.strip())
    counts = code_counts(blocks, fenced)
    assert counts.blocks == counts.verbatim == counts.present == len(blocks) > 0
    assert unfence(fenced) == extract(html, "resiliparse-plain")
    assert FENCE not in unfence(fenced)


@pytest.mark.parametrize(("url", "expected"), LOSSY.items())
def test_trafilatura_loses_blocks_the_cached_text_keeps(url, expected):
    html = html_of(url)
    blocks = code_blocks(parse(html))
    counts = code_counts(blocks, extract(html, "trafilatura"))
    assert (counts.blocks, counts.verbatim) == expected


def test_the_tree_is_parsed_once_and_fencing_is_optional():
    html = html_of(FLASK)
    tree = parse(html)
    assert len(code_blocks(tree)) == 1  # read before fencing mutates the tree (the 2nd block is not indented)
    assert tree_text(tree) == extract(html)
    assert tree_text(parse(html), fences=False) == extract(html, "resiliparse-plain")


def test_unknown_extractor_names_the_valid_ones():
    with pytest.raises(ValueError, match="resiliparse, resiliparse-plain, trafilatura"):
        get_extractor("boilerpipe")
