"""Redaction of secrets and personal data (webrecall/core/text/redact.py) on real pages: fresh real-format secrets
placed in DEV and BENCH page text are removed, documented examples and reserved addresses are left alone, and on
DEV's documentation pages code lines change only where a value was replaced."""

from __future__ import annotations

import ast
import json
import random
from collections import Counter

import pytest

from tests.conftest import CORPUS
from tests.core.conftest import DEV_LABELS, load_labelled
from tests.core.text import secret_cases as cases
from webrecall.core.text.redact import placeholder, redact, redact_utf8, replace, spans

RNG_SEED = 28


@pytest.fixture(scope="module")
def bench_pages() -> list[str]:
    return load_labelled(CORPUS / "labels" / "CC-MAIN-BENCH.jsonl", "resiliparse")[0]


@pytest.mark.parametrize("make", cases.GENERATORS, ids=lambda g: g.__name__)
def test_each_format_is_replaced_by_its_placeholder_and_the_syntax_stays(make) -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(20):
        placed = make(rng)
        out, counts = redact(placed.lines)
        assert placed.value not in out, placed.lines
        assert sum(counts.values()) >= 1
        skeleton = out
        for kind in counts:
            skeleton = skeleton.replace(placeholder(kind), "")
        # the value only went: every character around it is still there, in order (quotes, `key=`, URL, BEGIN/END)
        rest = iter(placed.lines)
        assert all(ch in rest for ch in skeleton), (placed.lines, out)


def test_kinds_and_placeholders() -> None:
    rng = random.Random(RNG_SEED)
    assert redact(cases.aws_access_key(rng).lines)[1] == {"aws_access_key": 1}
    assert redact(f'token = "{cases.github_token(rng).value}"')[0] == 'token = "<SECRET:github_token>"'
    assert redact(f"mail {cases.email(rng).value}.")[0] == "mail <EMAIL>."
    assert redact("from 93.184.216.34:443")[0] == "from <IP_ADDRESS>:443"
    url = cases.connection_url(rng)
    assert "<SECRET:password>@" in redact(url.lines)[0]
    key = cases.private_key(rng).lines
    out = redact(key)[0].splitlines()
    assert out[0].startswith("-----BEGIN") and out[-1].startswith("-----END") and out[1:-1] == ["<SECRET:private_key>"]
    escaped = '{"private_key": "' + key.replace("\n", "\\n") + '\\n"}'
    assert json.loads(redact(escaped)[0])["private_key"].split("\n")[1] == "<SECRET:private_key>"


def test_code_still_parses_where_it_did() -> None:
    rng = random.Random(RNG_SEED)
    source = "\n".join([
        f'AWS_ACCESS_KEY_ID = "{cases.aws_access_key(rng).value}"',
        f"aws_secret_access_key = '{cases.aws_secret_key(rng).value}'",
        f'password = "{cases._password(rng)}"',
        f'DATABASE_URL = "postgres://app:{cases._password(rng)}@db.internal.net/app"',
        f'headers = {{"Authorization": "Bearer {cases.jwt(rng).value}"}}',
        f'SECRET_KEY = "{cases.high_entropy(rng).value}"',
        f'ADMINS = [("Ops", "{cases.email(rng).value}")]',
        f'HOSTS = ["{cases.ip_address(rng).value}"]',
        'KEY = """' + cases.private_key(rng).lines + '"""',
    ])  # fmt: skip
    ast.parse(source)
    out, counts = redact(source)
    ast.parse(out)
    assert sum(counts.values()) >= 9, counts


@pytest.mark.parametrize("line", cases.DOCUMENTED)
def test_documented_examples_reserved_addresses_and_versions_are_left_alone(line: str) -> None:
    assert redact(line) == (line, {})


def test_placed_secrets_in_real_dev_and_bench_pages_are_removed(dev_pages, bench_pages) -> None:
    """The recall target: >= 99% of fresh real-format secrets (and addresses) placed in real page text go."""
    rng = random.Random(RNG_SEED)
    texts = [t for t in dev_pages[0] + bench_pages if t]
    missed: Counter[str] = Counter()
    placed_n: Counter[str] = Counter()
    for text in rng.sample(texts, 600):
        placed = rng.choice(cases.GENERATORS)(rng)
        page = cases.place(text, placed, rng)
        out, _ = redact(page)
        placed_n[placed.kind] += 1
        missed[placed.kind] += placed.value in out
    recall = 1 - sum(missed.values()) / sum(placed_n.values())
    assert recall >= 0.99, (recall, dict(missed), dict(placed_n))
    assert set(placed_n) == {g(random.Random(0)).kind for g in cases.GENERATORS}  # every format was tried


def test_dev_docs_code_lines_change_only_where_a_value_was_replaced(dev_pages) -> None:
    """On DEV's documentation pages: lines with no finding are untouched (code blocks verbatim, indentation
    included), and secrets and IP addresses change at most 0.1% of code lines. Personal e-mail addresses
    (license texts, commit headers) are counted apart: real addresses, replaced by design."""
    rows = [json.loads(line) for line in DEV_LABELS.open(encoding="utf-8")]
    texts = [t for t, r in zip(dev_pages[0], rows, strict=True) if r["kind"] == "docs"]
    code_lines = 0
    changed: Counter[str] = Counter()
    for text in texts:
        code, hit = cases.lines_found(text)
        code_lines += len(code)
        out, _ = redact(text)
        lines, new = text.split("\n"), out.split("\n")
        assert len(new) == len(lines)  # no key block in docs pages: one line in, one line out
        for i, (a, b) in enumerate(zip(lines, new, strict=True)):
            assert (a == b) == (i not in hit), (a, b)
            assert a[: len(a) - len(a.lstrip())] == b[: len(b) - len(b.lstrip())]  # indentation kept
        for i, kinds in hit.items():
            if i in code:
                changed["email" if kinds == {"email"} else "other"] += 1
    assert changed["other"] / code_lines <= 0.001, (changed, code_lines)
    print(f"\nDEV docs: {code_lines} code lines; changed by secrets/IPs {changed['other']}, by e-mails "
          f"{changed['email']}")


def test_the_utf8_form_agrees_with_redact(dev_pages) -> None:
    """The export scans texts in their column's UTF-8 buffer, or replaces the spans the recall task recorded: same
    result, None where nothing is replaced."""
    for text in [t for t in dev_pages[0][:300] if t]:
        out, n = redact(text)
        assert replace(text, spans(text)) == (out, n)
        got = redact_utf8(memoryview(text.encode()))
        assert (got is None and n == {} and out == text) or got == (out, n)
