"""Synthetic seed pages that teach content, not style (issue 14).

Seeds from a few documentation sites teach "looks like this documentation site". Two kinds of page, both built from
the round's own real pages, separate "has code" from "looks like documentation":

- synthetic positives: an ordinary (negative) page's text with 1-6 real code blocks of the seed positives spliced in
  at paragraph breaks, its code signals updated as if those blocks were `<pre>` blocks;
- synthetic hard negatives: an ordinary page with 1-6 non-code blocks in `<pre>`-style markup: prose lines of another
  ordinary page, a JSON object or a whitespace table made of that page's words and numbers. The crawl's ordinary
  pages have no `<pre>` block at all, so without these the model learns "`<pre>` means code"; real non-code pages
  with code-like markup (JSON ad configuration, a licence's how-to-apply block, markup-help boxes) prove it wrong.

Sampled with the round's seed, so a round's training set is reproducible. Switched by `WEBRECALL_SYNTHETIC_SHARE`
(synthetic pages of each kind per real positive; 0 turns it off).
"""

from __future__ import annotations

import json
import random
import re

from webrecall.core.text.features import block_stats, decode, encode, is_code_line, split_signals, with_signals

MIN_BLOCK_LINES, MAX_BLOCK_LINES = 2, 25
_NUMBER = re.compile(r"\d+")


def code_blocks(text: str) -> list[str]:
    """Runs of code-like lines in a page's fast text (resiliparse keeps code blocks' lines and indentation)."""
    blocks: list[str] = []
    run: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip() and (is_code_line(line) or (run and line[:1] in " \t")):
            run.append(line.rstrip())
            continue
        run = run[:MAX_BLOCK_LINES]
        if sum(map(is_code_line, run)) >= MIN_BLOCK_LINES:
            blocks.append("\n".join(run))
        run = []
    return blocks


def _splice(text: str, blocks: list[str], rng: random.Random) -> str:
    paras = text.split("\n")
    for block in blocks:
        paras.insert(rng.randrange(len(paras) + 1), block)
    return "\n".join(paras)


def _add_blocks(signals: str, blocks: list[str], *, highlighted: bool) -> str:
    s = decode(signals)
    chars = sum(map(len, blocks))
    add = {"pre": len(blocks), "code": len(blocks), "hl": len(blocks) if highlighted else 0, "bc": chars, "tc": chars,
           **block_stats(blocks)}  # fmt: skip
    for k, v in add.items():
        s[k] = s.get(k, 0) + v
    return encode(s)


def _non_code_block(text: str, rng: random.Random) -> str:
    """A block of real non-code content from an ordinary page: prose lines, a JSON object or a data table."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    words = re.findall(r"[^\W\d_]{3,}", text)[:400] or ["item"]
    numbers = _NUMBER.findall(text)[:200] or ["0"]
    kind = rng.randrange(3)
    if kind == 0 and lines:
        start = rng.randrange(len(lines))
        return "\n".join(lines[start : start + rng.randint(2, 8)])
    if kind == 1:
        obj = {rng.choice(words).lower(): rng.choice([rng.choice(words), int(rng.choice(numbers)), True])
               for _ in range(rng.randint(2, 8))}  # fmt: skip
        return json.dumps(obj, indent=2, ensure_ascii=False)
    rows = [f"{rng.choice(words):<16}{rng.choice(numbers):>8}  {rng.choice(words)}" for _ in range(rng.randint(2, 8))]
    return "\n".join(rows)


def synthesize(
    positives: list[str], generals: list[str], *, share: float, rng: random.Random
) -> tuple[list[str], list[str]]:
    """(synthetic positives, synthetic negatives): `share` x len(positives) of each, from classifier inputs
    (`with_signals` texts) of real positives and of ordinary pages. Empty when either list has no material."""
    n = int(round(share * len(positives)))
    blocks = [b for p in positives for b in code_blocks(split_signals(p)[1])]
    if n <= 0 or not blocks or not generals:
        return [], []
    pos, neg = [], []
    for _ in range(n):
        sig, text = split_signals(rng.choice(generals))
        chosen = [rng.choice(blocks) for _ in range(rng.randint(1, 6))]
        pos.append(with_signals(_splice(text, chosen, rng), _add_blocks(sig, chosen, highlighted=rng.random() < 0.5)))
        sig, text = split_signals(rng.choice(generals))
        source = split_signals(rng.choice(generals))[1]
        chosen = [_non_code_block(source, rng) for _ in range(rng.randint(1, 6))]
        neg.append(with_signals(_splice(text, chosen, rng), _add_blocks(sig, chosen, highlighted=rng.random() < 0.2)))
    return pos, neg
