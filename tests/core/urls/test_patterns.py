import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webrecall.core.urls.patterns import (
    PatternSet,
    collapse,
    compile_pattern,
    exact,
    label_url_key,
    parse,
    url_key,
)


def test_url_key_drops_scheme_and_lowercases_host():
    assert url_key("HTTPS://Docs.Python.org/3/Library/") == "docs.python.org/3/Library/"


@pytest.mark.parametrize(
    ("pattern", "url", "hit"),
    [
        ("docs.python.org/3/", "https://docs.python.org/3/library/os.html", True),
        ("docs.python.org/3/", "https://docs.python.org/2/library/os.html", False),
        ("https://docs.python.org/3/", "http://docs.python.org/3/x", True),
        ("docs.python.org", "https://docs.python.org/anything", True),
        ("%ask.csdn.net/questions%", "https://ask.csdn.net/questions/7901", True),
        ("%ask.csdn.net/questions%", "https://blog.csdn.net/questions/1", False),
        ("%juejin.cn/post%", "https://juejin.cn/post/7100", True),
        ("%.csdn.net/%", "https://ask.csdn.net/x", True),
        ("%ask.csdn.net/questions", "https://ask.csdn.net/questions/1", False),  # LIKE is anchored
        ("stackoverflow.com/questions/*/", "https://stackoverflow.com/questions/123/slug", True),
        ("stackoverflow.com/questions/*/", "https://stackoverflow.com/questions", False),
    ],
)
def test_pattern_forms(pattern, url, hit):
    assert parse(pattern).matches(url) is hit


@pytest.mark.parametrize("bad", ["", "   ", "a b.com/", "%%", "*.x"])
def test_malformed_patterns_are_rejected_with_a_reason(bad):
    with pytest.raises(ValueError, match="pattern"):
        parse(bad)


def test_most_specific_pattern_wins():
    ps = PatternSet(
        [
            ("docs.python.org/", "code"),
            ("docs.python.org/3/whatsnew/", "non-code"),
            ("%python.org%", "mixed"),
        ]
    )
    assert ps.match("https://docs.python.org/3/library/os.html")[1] == "code"
    assert ps.match("https://docs.python.org/3/whatsnew/3.11.html")[1] == "non-code"
    assert ps.match("https://www.python.org/about/")[1] == "mixed"
    assert ps.match("https://example.com/") is None


def test_exact_url_beats_a_pattern_of_the_same_text():
    ps = PatternSet([("docs.python.org/3/", "code"), (exact("https://docs.python.org/3/"), "non-code")])
    assert ps.match("https://docs.python.org/3/")[1] == "non-code"
    assert ps.match("https://docs.python.org/3/library/")[1] == "code"


def test_proposal_and_wildcard_forms_compete_by_specificity():
    ps = PatternSet(
        [
            ("stackoverflow.com/", "mixed"),
            ("stackoverflow.com/questions/*", "code"),
            ("%stackoverflow.com/questions/%/jobs%", "non-code"),
            (exact("https://stackoverflow.com/questions/1/x"), "non-code"),
        ]
    )
    assert ps.match("https://stackoverflow.com/questions/7/slug")[1] == "code"  # `*` proposal beats the host
    assert ps.match("https://stackoverflow.com/questions/7/jobs/a")[1] == "non-code"  # longer LIKE pattern
    assert ps.match("https://stackoverflow.com/questions/1/x")[1] == "non-code"  # a URL label beats all
    assert ps.match("https://stackoverflow.com/users/3")[1] == "mixed"


def _reference(text: str) -> re.Pattern[str]:
    """The meaning of a pattern as a backtracking regex (`%` any run, `*` a run within a path segment)."""
    body = "".join(".*" if p == "%" else "[^/?#]*" if p == "*" else re.escape(p) for p in re.split(r"([%*])", text))
    return re.compile(body + ("$" if "%" in text else ""), re.DOTALL)


@settings(max_examples=3000, deadline=None)
@given(pattern=st.text("ab/%*", max_size=10), key=st.text("ab/?", max_size=14))
def test_matching_agrees_with_the_regex_meaning(pattern, key):
    assert compile_pattern(pattern).match_key(key) == bool(_reference(collapse(pattern)).match(key))
    assert compile_pattern(pattern).match_key(key) == bool(_reference(pattern).match(key))  # collapsing keeps it


@pytest.mark.parametrize(
    ("pattern", "key", "hit"),
    [  # inputs on which a backtracking matcher takes exponential time (each would hang the old one)
        ("docs.python.org/" + "%" * 12 + "zzzz", "docs.python.org/" + "z" * 20 + "a" * 40, False),
        ("a" + "%a" * 200 + "%zzzz", "a" * 5000, False),
        ("a" + "%a" * 200 + "%zzzz", "a" * 5000 + "zzzz", True),
        ("a" + "*a" * 200 + "*b", "a" * 5000, False),
        ("a" + "*a" * 200 + "*b", "a" * 300 + "b", True),
        ("a" + "*a" * 200 + "*b", "a" * 300 + "/b", False),
        ("x" + "%a*" * 100 + "%b", "x" + "a/" * 3000, False),
        ("x" + "%a*" * 100 + "%b", "x" + "a/" * 3000 + "b", True),
    ],
)
def test_adversarial_patterns_match_without_backtracking(pattern, key, hit):
    assert compile_pattern(pattern).match_key(key) is hit


def test_repeated_wildcards_collapse_into_one():
    assert parse("docs.python.org/%%%%%%%%%%%%zzzz").text == "docs.python.org/%zzzz"
    assert parse("%%ask.csdn.net/*%questions**/%").text == "%ask.csdn.net/%questions*/%"


UNSAFE = [
    ("docs.python.org/" + "a" * 600, "at most 512"),
    ("docs.python.org/" + "a%" * 17, "17 wildcards"),
    ("docs.python.org/\x00", "NUL"),
    ("docs.python.org/\x07", "control character U+0007"),
    ("docs.python.org/\x85x", "control character U+0085"),
    ("docs.python.org/\ud800", "lone surrogate U+D800"),
    ("docs.python.org/\u202eevil", "bidirectional-text control U+202E"),
    ("docs.python.org/\u2067x", "bidirectional-text control U+2067"),
    ("docs.python.org/\u200fx", "bidirectional-text control U+200F"),
    ("www.\u2060python.org/", "invisible format character U+2060"),
    ("docs.python.org/\u200bx", "invisible format character U+200B"),
    ("javascript:alert(1)//", "scheme 'javascript:'"),
    ("JavaScript:alert(document.domain)", "scheme 'JavaScript:'"),
    ("data:text/html,<b>x</b>", "scheme 'data:'"),
    ("file:///etc/passwd", "scheme 'file://'"),
    ("ftp://example.com/pub/", "scheme 'ftp://'"),
    ("http://javascript:alert(1)", "scheme 'javascript:'"),
]
"""(pattern, reason): every entry point refuses each with this reason (tests/api, tests/cli, the annotator)."""


@pytest.mark.parametrize(("bad", "reason"), UNSAFE)
def test_unsafe_patterns_are_refused_with_their_reason(bad, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse(bad)


@pytest.mark.parametrize("good", ["docs.python.org:8080/api/", "https://docs.python.org/3/", "例え.jp/docs/",
                                  "%ask.csdn.net/questions%", "docs.python.org/" + "a%" * 16])
def test_ordinary_patterns_pass_the_checks(good):
    assert parse(good).specificity >= 4


def test_url_labels_get_the_character_and_scheme_checks():
    assert label_url_key("https://Docs.Python.org/3/") == "docs.python.org/3/"
    for bad, reason in [("javascript:alert(1)", "scheme"), ("https://x.org/\u202e", "U+202E"),
                        ("https://x.org/\x00", "NUL")]:
        with pytest.raises(ValueError, match=re.escape(reason)):
            label_url_key(bad)
