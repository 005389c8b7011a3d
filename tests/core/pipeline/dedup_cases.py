"""Near-duplicates built from real CC-MAIN-DEV pages, shared by tests/core/pipeline/test_dedup.py and bench/dedup.py.

- `nav`: the same page with its navigation (first lines) and footer (last lines) replaced by another page's.
- `edit`: the same page with 5-20% of its lines edited (words dropped, swapped or replaced).
Pairs of different pages of the same docs site (shared templates) must not be merged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from tests.conftest import CORPUS
from webrecall.core.pipeline.dedup import DedupConfig, group_partition, merge, shingles, signature_rows
from webrecall.core.storage.store import Store

DEV_LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
CRAWL_WARC = "crawl-data/CC-MAIN-DEV/segments/0/warc/synthetic-near-dups.warc.gz"


@dataclass(slots=True)
class Doc:
    url: str
    text: str
    site: str
    source: int | None = None
    """The index of the page this one was made from (None: an original page)."""
    kind: str = "original"


def dev_docs(texts: list[str], urls: list[str], *, min_lines: int = 20) -> list[Doc]:
    """DEV's documentation pages with enough lines to have a template and a body."""
    rows = [json.loads(line) for line in DEV_LABELS.open(encoding="utf-8") if line.strip()]
    out = []
    for row, text, url in zip(rows, texts, urls, strict=True):
        if row["kind"] == "docs" and len([ln for ln in text.splitlines() if ln.strip()]) >= min_lines:
            out.append(Doc(url=url, text=text, site=url.split("/")[2]))
    return out


def _edit_line(line: str, rng: random.Random, vocab: list[str]) -> str:
    words = line.split()
    if not words:
        return rng.choice(vocab)
    i = rng.randrange(len(words))
    op = rng.choice(("drop", "swap", "replace"))
    if op == "drop" and len(words) > 1:
        del words[i]
    elif op == "swap" and len(words) > 1:
        j = rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    else:
        words[i] = rng.choice(vocab)
    return " ".join(words)


def near_copies(docs: list[Doc], *, n: int, seed: int = 0) -> Iterator[Doc]:
    """`n` copies of each kind from distinct pages: nav/footer replaced, and 5-20% of lines edited."""
    rng = random.Random(seed)
    picks = rng.sample(range(len(docs)), 2 * n)
    vocab = [w for d in docs[:50] for w in d.text.split()[:200]]
    for k, i in enumerate(picks):
        doc = docs[i]
        lines = doc.text.splitlines()
        if k < n:  # navigation and footer of another page of the same site: 5% of the lines at each end
            same = [j for j, d in enumerate(docs) if d.site == doc.site and j != i]
            other = docs[rng.choice(same)].text.splitlines()
            cut = max(1, len(lines) // 20)
            new = other[:cut] + lines[cut : len(lines) - cut] + other[-cut:]
            yield Doc(url=doc.url + "?variant=nav", text="\n".join(new), site=doc.site, source=i, kind="nav")
        else:
            share = rng.uniform(0.05, 0.20)
            edited = set(rng.sample(range(len(lines)), max(1, int(len(lines) * share))))
            new = [_edit_line(ln, rng, vocab) if j in edited else ln for j, ln in enumerate(lines)]
            yield Doc(url=doc.url + "?variant=edit", text="\n".join(new), site=doc.site, source=i, kind="edit")


def run_dedup(store: Store, docs: list[Doc], cfg: DedupConfig, *, files: int = 4) -> list[dict]:
    """Signatures -> partitions -> merge over `docs` split into `files` signature files (as WARC shards are);
    returns the removed rows (ids are the docs' indexes as offsets)."""
    from webrecall.core.storage.layout import SIGS_SCHEMA, removed_path

    rels = []
    for f in range(files):
        rows = [{"url": d.url, "warc": f"{CRAWL_WARC}#{f}", "offset": i, "score": 0.9, "text": d.text}
                for i, d in enumerate(docs) if i % files == f]  # fmt: skip
        rel = f"rounds/1/sigs/part-{f}.parquet"
        table = pa.Table.from_pylist(list(signature_rows(rows, round_no=1, cfg=cfg)), schema=SIGS_SCHEMA)
        store.write_table(rel, table)
        rels.append(rel)
    buckets = [group_partition(store, rels, partition=p, cfg=cfg, out_round=1) for p in range(cfg.partitions)]
    merge(store, rels, buckets, cfg=cfg, out_round=1, floors={1: 0.5})
    return store.read_table(removed_path(1)).to_pylist()


def exact_jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def pair_quality(docs: list[Doc], removed: list[dict], threshold: float) -> dict[str, float]:
    """Recall: constructed copies that end in their source's cluster (all of them, and those whose exact 5-gram
    Jaccard with the source reaches the threshold). Precision: of the removed pages, those whose kept copy is its
    source or copy, or as similar as the threshold (exact Jaccard); the others are unrelated pages merged."""
    cluster = {i: i for i in range(len(docs))}
    keeper = {}
    for r in removed:
        keeper[r["offset"]] = int(r["dedup_of"].rsplit("/", 1)[1])
        cluster[r["offset"]] = keeper[r["offset"]]
    copies = [(i, d) for i, d in enumerate(docs) if d.source is not None]
    jac = {i: exact_jaccard(d.text, docs[d.source].text) for i, d in copies}  # type: ignore[index]
    found = [i for i, d in copies if cluster[i] == cluster[d.source]]  # type: ignore[index]
    above = [i for i, _ in copies if jac[i] >= threshold]
    unrelated = []
    for page, kept in keeper.items():
        related = docs[page].source == kept or docs[kept].source == page or (
            docs[page].source is not None and docs[page].source == docs[kept].source)
        if not related and exact_jaccard(docs[page].text, docs[kept].text) < threshold:
            unrelated.append((docs[page].url, docs[kept].url))
    return {
        "copies": len(copies), "found": len(found), "recall": round(len(found) / len(copies), 4),
        "copies_at_threshold": len(above), "found_at_threshold": len(set(above) & set(found)),
        "recall_at_threshold": round(len(set(above) & set(found)) / len(above), 4) if above else 1.0,
        "removed": len(keeper), "unrelated_merged": len(unrelated),
        "precision": round(1 - len(unrelated) / len(keeper), 4) if keeper else 1.0,
        "unrelated_examples": unrelated[:5],
    }  # fmt: skip
