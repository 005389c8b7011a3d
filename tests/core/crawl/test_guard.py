import pytest

from webrecall.core.crawl.guard import check_source


def test_the_refusal_lists_each_allowed_base_once():
    allowed = ["https://data.commoncrawl.org/", "https://data.commoncrawl.org", " http://mirror.local:8080/cc/ "]
    with pytest.raises(ValueError) as exc:
        check_source("http://169.254.169.254/latest/", allowed)
    assert str(exc.value).endswith("(https://data.commoncrawl.org/, http://mirror.local:8080/cc/)")
    assert check_source("https://data.commoncrawl.org/crawl-data/x.warc.gz", allowed)
