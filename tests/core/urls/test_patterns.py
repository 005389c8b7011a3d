import pytest

from webrecall.core.urls.patterns import PatternSet, exact, parse, url_key


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
