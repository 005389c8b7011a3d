"""An annotator's pattern stays on the claimed item's site, compared after IDNA normalisation."""

from __future__ import annotations

import pytest

from webrecall.core.labelling.scope import ascii_host, confine


def test_patterns_on_the_site_pass_in_ascii_form() -> None:
    assert confine("docs.python.org/3/library/", "docs.python.org") == "docs.python.org/3/library/"
    assert confine("https://DOCS.Python.org/3/%", "docs.python.org") == "docs.python.org/3/%"
    assert confine("python.org/", "docs.python.org") == "python.org/"  # widened to the whole site
    assert confine("wiki.python.org:8080/x", "docs.python.org") == "wiki.python.org:8080/x"
    assert confine("docs．python．org/3/", "docs.python.org") == "docs.python.org/3/"  # full-width dots
    assert confine("Bücher.example/a/", "xn--bcher-kva.example") == "xn--bcher-kva.example/a/"
    assert confine("xn--bcher-kva.example/a/", "bücher.example") == "xn--bcher-kva.example/a/"
    assert confine("dоcs.python.org/", "docs.python.org") == "xn--dcs-sed.python.org/"  # python.org's own host


@pytest.mark.parametrize("pattern, domain", [
    ("evil.example.com/", "docs.python.org"),
    ("docs.pythоn.org/", "docs.python.org"),  # a Cyrillic о: another registered domain (xn--pythn-...)
    ("docs.pythön.org/3/", "docs.python.org"),
    ("python.org.evil.example/", "docs.python.org"),
    ("bob.github.io/", "alice.github.io"),  # a private suffix: two people's sites
    ("%docs.python.org/3/%", "docs.python.org"),  # a wildcard host could be any host
    ("*.python.org/", "docs.python.org"),
])  # fmt: skip
def test_patterns_off_the_site_are_refused_with_the_reason(pattern: str, domain: str) -> None:
    with pytest.raises(ValueError, match="site"):
        confine(pattern, domain)


def test_ascii_host() -> None:
    assert ascii_host("Docs.Python.org.") == "docs.python.org"
    assert ascii_host("bücher.example:443") == "xn--bcher-kva.example"
    with pytest.raises(ValueError, match="not a valid host"):
        ascii_host("a\u200db.example")
