"""Dedup of the exported corpus: exact URL, exact text and MinHash near-duplicates, across rounds and crawls.

Three steps, each a plain function so the embedded default and the Celery workers run the same code:

1. `write_signatures` (in each WARC's recall task, kept pages only): canonical-URL key, normalised-text key,
   MinHash signature (datasketch; FineWeb's 5-gram word shingles, 112 permutations, 14 bands of 8) and its band
   keys, benchmark overlap (`core.pipeline.decontam`), into `rounds/<n>/sigs/<warc_id>.parquet` next to the shard.
2. `group_partition` (P tasks): every key (URL, text, and each band) whose hash falls in partition p; buckets with
   two or more pages are written to `rounds/<n>/dedup/bucket-<p>.parquet`. No process holds every page.
3. `merge` (one task): union-find over the buckets' members (URL, then text, then verified near-duplicate links)
   and the keep rule; `rounds/<n>/dedup/removed.parquet` lists every removed copy with its reason, the kept copy's
   id (`dedup_of`) and, for near-duplicates, the estimated Jaccard of the pair.

Keep rule (deterministic, the same on every worker and rerun): the copy of the latest round (its model is the
newest judgement, and exporting the latest round gives its whole corpus), then the highest score, then the earliest
crawl, then the shortest URL, then the lexicographically smallest URL, then the page id. The dedup at round n covers
the recalled pages of rounds 1..n and every export reads the newest dedup, so the union of the rounds' exports
holds each page once.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webrecall.core.page import Stats
from webrecall.core.settings import DedupConfig
from webrecall.core.storage.layout import (
    BUCKET_SCHEMA,
    REMOVED_SCHEMA,
    SIGS_SCHEMA,
    bucket_path,
    removed_path,
    sigs_path,
)
from webrecall.core.storage.store import Store, warc_id
from webrecall.core.text import redact

REASONS = ("exact_url", "exact_text", "near_dup")
_ARCHIVE = re.compile(r"^(?:https?://)?(?:web\.)?archive\.org/web/[0-9a-z_*]+/", re.IGNORECASE)
_TRACKING = re.compile(
    r"^(?:utm_.*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|yclid|_hsenc|_hsmi|igshid|ref_src|"
    r"_ga|_gl|mkt_tok|spm|scid|oly_enc_id|oly_anon_id|vero_id|trk|trkcampaign)$",
    re.IGNORECASE,
)
_CRAWL = re.compile(r"CC-MAIN-[A-Za-z0-9-]+")
SEED = 1
"""The MinHash permutations' seed: every worker and every round draws the same ones."""

# spaced scripts shingle by word; unspaced ones (CJK ideographs, kana, hangul, Thai, Lao, Khmer, Myanmar) by character
_UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")


def canonical_url(url: str) -> str:
    """The URL as one page: no scheme, no `www.`, no archive wrapper, fragment, default port, tracking parameters
    or trailing slash; host lower-cased, remaining query parameters sorted."""
    url = url.strip()
    while (m := _ARCHIVE.match(url)) is not None:
        url = url[m.end() :]
    if "://" not in url[:12]:
        url = "http://" + url
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    port = parts.port if parts.port not in (None, 80, 443) else None
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k))
    path = re.sub(r"/+$", "", parts.path) or ""
    path = re.sub(r"/(?:index|default)\.(?:html?|php|aspx?)$", "", path, flags=re.IGNORECASE)
    return urlunsplit(("", f"{host}:{port}" if port else host, path, urlencode(query), "")).lstrip("/")


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: what must be equal for two texts to count as the same."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def tokens(text: str) -> list[str]:
    """Words of spaced scripts and single characters of unspaced ones (so Chinese or Japanese text shingles too)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, n: int) -> set[str]:
    toks = tokens(text)
    if len(toks) < n:
        return {" ".join(toks)} if toks else set()
    return set(map(" ".join, zip(*(toks[i:] for i in range(n)), strict=False)))


def key64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@lru_cache(maxsize=8)
def _template(num_perm: int, seed: int) -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=seed, scheme="affine32")


def _datasketch(grams: set[str], cfg: DedupConfig) -> np.ndarray:
    from datasketch import MinHash

    template = _template(cfg.num_perm, SEED)  # permutations drawn once per process, not per page
    mh = MinHash(num_perm=cfg.num_perm, seed=SEED, permutations=template.permutations, scheme="affine32")
    mh.update_batch([g.encode() for g in grams])
    return np.asarray(mh.hashvalues, dtype=np.uint32)


def _rensa(grams: set[str], cfg: DedupConfig) -> np.ndarray:
    from rensa import RMinHash

    mh = RMinHash(num_perm=cfg.num_perm, seed=SEED)
    mh.update(list(grams))
    return np.asarray(mh.digest(), dtype=np.uint32)


BACKENDS = {"rensa": _rensa, "datasketch": _datasketch}
"""MinHash libraries by name; a run must use one throughout (their signatures do not compare)."""


def signature(text: str, cfg: DedupConfig) -> np.ndarray | None:
    """The page's MinHash signature (uint32 x num_perm), or None for a text without a single token."""
    if cfg.backend not in BACKENDS:
        raise ValueError(f"unknown MinHash backend {cfg.backend!r}; valid: {', '.join(sorted(BACKENDS))}")
    grams = shingles(text, cfg.ngram)
    return BACKENDS[cfg.backend](grams, cfg) if grams else None


def band_keys(sig: np.ndarray, cfg: DedupConfig) -> list[int]:
    return [key64(b.to_bytes(2, "little") + sig[b * cfg.rows : (b + 1) * cfg.rows].tobytes()) for b in range(cfg.bands)]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def crawl_of(location: str, default: str = "") -> str:
    m = _CRAWL.search(location)
    return m.group(0) if m else default


def page_id(round_no: int, location: str, offset: int) -> str:
    """A recalled copy: the same capture recalled in two rounds is two copies (one stays)."""
    return f"{round_no}/{warc_id(location)}/{offset}"


def signature_rows(
    rows: Iterable[dict], *, round_no: int, cfg: DedupConfig, crawl: str = "", benchmarks: Any = None,
    stats: Stats | None = None,
) -> Iterator[dict]:  # fmt: skip
    """Signature rows of kept pages (dicts with url, warc, offset, score, text), as written to the sigs file, with
    what an export would redact in each (counted here, where every kept text is read anyway; finalize sums it)."""
    for row in rows:
        text = row.get("text") or ""
        sig = signature(text, cfg)
        norm = normalize_text(text)
        hits = benchmarks.matches(text) if benchmarks is not None and text else []
        with stats.timer("redact") if stats is not None else nullcontext():
            spans = redact.spans(text)
        redactions = Counter(kind for _, _, kind in spans)
        if stats is not None:
            stats.incr("dedup_signatures")
            stats.incr("dedup_no_shingle", sig is None)
            stats.incr("contaminated", bool(hits))
            stats.incr("redacted_pages", bool(redactions))
            for kind, n in redactions.items():
                stats.incr(f"redacted_{kind}", n)
        yield {
            "id": page_id(round_no, row["warc"], row["offset"]), "round": round_no, "warc": row["warc"],
            "offset": row["offset"], "url": row["url"], "crawl": crawl_of(row["warc"], crawl),
            "score": row["score"], "url_key": key64(canonical_url(row["url"]).encode()),
            "text_key": key64(norm.encode()) if norm else None,
            "bands": band_keys(sig, cfg) if sig is not None else None,
            "sig": sig.tolist() if sig is not None else None,
            "contaminated": ",".join(hits) or None, "redactions": list(redactions.items()),
            "redacted": [{"start": a, "end": b, "kind": k} for a, b, k in spans],
        }  # fmt: skip


SIGS_WRITTEN = SIGS_SCHEMA.with_metadata({"redactor": redact.VERSION})
"""Signature files as written: with the redaction detectors' version their counts come from."""


Spans = dict[tuple[str, int], list[tuple[int, int, str]]]
"""(warc, offset) -> where the values to redact stand in that page's text (`redact.spans`)."""


def redaction_spans(store: Store, rel: str) -> Spans | None:
    """The values to redact in each page of the signature file `rel`; None when there is no such file, or it was
    written by another version of the detectors (or before they recorded where the values stand)."""
    if not store.exists(rel) or "redacted" not in store.column_names(rel):
        return None
    table = store.read_table(rel, columns=["warc", "offset", "redacted"])
    if (table.schema.metadata or {}).get(b"redactor") != redact.VERSION.encode():
        return None
    rows = zip(table["warc"].to_pylist(), table["offset"].to_pylist(), table["redacted"].to_pylist(), strict=True)
    return {(w, o): [(s["start"], s["end"], s["kind"]) for s in spans or []] for w, o, spans in rows}


def write_signatures(
    store: Store, round_no: int, location: str, *, cfg: DedupConfig, crawl: str = "", benchmarks: Any = None,
    stats: Stats, batch: int = 512,
) -> str:  # fmt: skip
    """The recall task's hook: signatures of the WARC's kept pages (its shard), written next to the shard."""
    from webrecall.core.pipeline.passes import pages_path

    rel = sigs_path(round_no, location)
    with stats.timer("signatures"), store.row_writer(rel, SIGS_WRITTEN, batch) as out:
        for part in store.iter_batches(pages_path(round_no, location), columns=["url", "warc", "offset", "score",
                                                                               "text"], batch_size=batch):  # fmt: skip
            for row in signature_rows(part.to_pylist(), round_no=round_no, cfg=cfg, crawl=crawl,
                                      benchmarks=benchmarks, stats=stats):  # fmt: skip
                out.add(row)
    return rel


def group_partition(
    store: Store, sig_files: list[str], *, partition: int, cfg: DedupConfig, out_round: int
) -> str:  # fmt: skip
    """Buckets (URL key, text key, or one band's key) hashing to `partition` that hold two or more copies."""
    parts = []
    for rel in sig_files:
        table = store.read_table(rel, columns=["id", "url_key", "text_key", "bands"])
        if not table.num_rows:
            continue
        ids = table["id"]
        for kind, column in (("url", "url_key"), ("text", "text_key")):
            parts.append(pa.table({"kind": pa.array([kind] * len(ids)), "bucket": table[column],
                                   "band": pa.array([-1] * len(ids), pa.int16()), "id": ids}))  # fmt: skip
        bands = table.filter(pc.is_valid(table["bands"]))
        if bands.num_rows:
            flat = pc.list_flatten(bands["bands"])
            reps = pc.list_value_length(bands["bands"]).to_numpy(zero_copy_only=False)
            parts.append(pa.table({
                "kind": pa.array(["band"] * len(flat)), "bucket": flat,
                "band": pa.array(np.tile(np.arange(cfg.bands, dtype=np.int16), bands.num_rows), pa.int16()),
                "id": pa.array(np.repeat(np.asarray(bands["id"].to_pylist(), dtype=object), reps), pa.string()),
            }))  # fmt: skip
    if parts:
        every = pa.concat_tables(parts)
        every = every.filter(pc.is_valid(every["bucket"]))
        keys = every["bucket"].to_numpy(zero_copy_only=False).astype(np.uint64)
        mine = every.filter(pa.array(keys % np.uint64(cfg.partitions) == np.uint64(partition)))
        sizes = mine.group_by(["kind", "band", "bucket"]).aggregate([("id", "count")])
        shared = sizes.filter(pc.greater(sizes["id_count"], 1)).drop_columns(["id_count"])
        result = mine.join(shared, ["kind", "band", "bucket"], join_type="inner").select(BUCKET_SCHEMA.names)
        result = result.cast(BUCKET_SCHEMA).sort_by([("kind", "ascending"), ("band", "ascending"),
                                                     ("bucket", "ascending"), ("id", "ascending")])  # fmt: skip
    else:
        result = BUCKET_SCHEMA.empty_table()
    rel = bucket_path(out_round, partition)
    store.write_table(rel, result)
    return rel


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while (up := self.parent.get(root, root)) != root:
            root = up
        while x != root:
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: str, b: str, better: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            keep, drop = (ra, rb) if better(ra) <= better(rb) else (rb, ra)
            self.parent[drop] = keep


def merge(
    store: Store, sig_files: list[str], bucket_files: list[str], *, cfg: DedupConfig, out_round: int,
    floors: dict[int, float],
) -> dict[str, Any]:  # fmt: skip
    """Union the buckets' members in three passes (URL, text, near-duplicate) and apply the keep rule.

    `floors` is each round's effective score threshold: copies under it are not in the corpus and link nothing.
    Only the pages that share a bucket are held in memory here, never every page.
    """
    buckets = pa.concat_tables([store.read_table(r) for r in bucket_files]) if bucket_files else None
    involved = set(buckets["id"].to_pylist()) if buckets is not None and buckets.num_rows else set()
    info: dict[str, dict] = {}
    totals: dict[str, int] = {"pages": 0, "contaminated": 0}
    per_round: dict[int, dict[str, int]] = {}
    for rel in sig_files:
        table = store.read_table(rel, columns=["id", "round", "warc", "offset", "url", "crawl", "score",
                                               "contaminated"])  # fmt: skip
        if not table.num_rows:
            continue
        rnd_no = int(table["round"][0].as_py())
        table = table.filter(pc.greater_equal(table["score"], pa.scalar(floors.get(rnd_no, 0.0), pa.float32())))
        counts = per_round.setdefault(rnd_no, {"pages": 0, "contaminated": 0})
        counts["pages"] += table.num_rows
        counts["contaminated"] += int(pc.sum(pc.is_valid(table["contaminated"]).cast(pa.int64())).as_py() or 0)
        if involved:
            sub = table.filter(pc.is_in(table["id"], pa.array(sorted(involved), pa.string())))
            for row in sub.to_pylist():
                info[row["id"]] = row
    for counts in per_round.values():
        totals["pages"] += counts["pages"]
        totals["contaminated"] += counts["contaminated"]

    def rank(pid: str) -> tuple:
        r = info[pid]
        return (-r["round"], -r["score"], r["crawl"], len(r["url"]), r["url"], pid)

    groups: dict[tuple[str, int, int], list[str]] = {}
    if buckets is not None:
        for kind, band, bucket, pid in zip(buckets["kind"].to_pylist(), buckets["band"].to_pylist(),
                                           buckets["bucket"].to_pylist(), buckets["id"].to_pylist(),
                                           strict=True):  # fmt: skip
            if pid in info:
                groups.setdefault((kind, band, bucket), []).append(pid)
    sigs = _load_sigs(store, sig_files, {p for (k, _, _), m in groups.items() if k == "band" and len(m) > 1
                                         for p in m})  # fmt: skip
    passes = [_UnionFind(), _UnionFind(), _UnionFind()]
    for step, kind in enumerate(("url", "text", "band")):
        uf, before = passes[step], passes[:step]
        for (k, _, _), members in sorted(groups.items()):
            if k != kind or len(members) < 2:
                continue
            ordered = sorted(members, key=lambda m: rank(_resolve(before, m)))
            anchor = ordered[0]
            for other in ordered[1:]:
                # a band's members all have signatures; the pair is verified on them, their copies are merged
                if kind == "band" and estimated_jaccard(sigs[anchor], sigs[other]) < cfg.threshold:
                    continue
                uf.union(_resolve(before, anchor), _resolve(before, other), rank)  # roots of earlier passes
    removed = []
    for pid in sorted(info):
        final = _resolve(passes, pid)
        if final == pid:
            continue
        reason = next(REASONS[i] for i in range(3) if _resolve(passes[: i + 1], pid) != pid)
        jac = estimated_jaccard(sigs[pid], sigs[final]) if pid in sigs and final in sigs else None
        r = info[pid]
        removed.append({"id": pid, "round": r["round"], "warc": r["warc"], "offset": r["offset"], "url": r["url"],
                        "reason": reason, "dedup_of": final,
                        "jaccard": jac if reason == "near_dup" else None})  # fmt: skip
        counts = per_round[r["round"]]
        counts[reason] = counts.get(reason, 0) + 1
        totals[reason] = totals.get(reason, 0) + 1
    store.write_table(removed_path(out_round), pa.Table.from_pylist(removed, schema=REMOVED_SCHEMA))
    for counts in [*per_round.values(), totals]:
        for reason in REASONS:
            counts.setdefault(reason, 0)
        counts["kept"] = counts["pages"] - sum(counts[r] for r in REASONS)
    return {"overall": totals, "rounds": {str(k): v for k, v in sorted(per_round.items())},
            "config": {"ngram": cfg.ngram, "num_perm": cfg.num_perm, "bands": cfg.bands, "rows": cfg.rows,
                       "threshold": cfg.threshold, "partitions": cfg.partitions}}  # fmt: skip


def _resolve(passes: list[_UnionFind], pid: str) -> str:
    for uf in passes:
        pid = uf.find(pid)
    return pid


def _load_sigs(store: Store, sig_files: list[str], ids: set[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if not ids:
        return out
    wanted = pa.array(sorted(ids), pa.string())
    for rel in sig_files:
        table = store.read_table(rel, columns=["id", "sig"])
        sub = table.filter(pc.is_in(table["id"], wanted))
        for pid, sig in zip(sub["id"].to_pylist(), sub["sig"].to_pylist(), strict=True):
            if sig is not None:
                out[pid] = np.asarray(sig, dtype=np.uint32)
    return out


def removed_for(store: Store, round_no: int, latest_round: int) -> dict[tuple[str, int], dict]:
    """(warc, offset) -> removed row for one round's pages, from the newest dedup that covers that round."""
    for rnd in range(latest_round, round_no - 1, -1):
        rel = removed_path(rnd)
        if store.exists(rel):
            table = store.read_table(rel)
            table = table.filter(pc.equal(table["round"], pa.scalar(round_no, pa.int32())))
            return {(r["warc"], r["offset"]): r for r in table.to_pylist()}
    return {}


def contaminated_for(store: Store, round_no: int, locations: list[str],
                     more: Iterable[str] = ()) -> dict[tuple[str, int], str]:  # fmt: skip
    """(warc, offset) -> benchmark problems a page overlaps, for the round's pages (and those of the signature
    files `more`: the expanded positives')."""
    out: dict[tuple[str, int], str] = {}
    for rel in [*(sigs_path(round_no, loc) for loc in locations), *more]:
        if not store.exists(rel):
            continue
        table = store.read_table(rel, columns=["warc", "offset", "contaminated"])
        table = table.filter(pc.is_valid(table["contaminated"]))
        for r in table.to_pylist():
            out[(r["warc"], r["offset"])] = r["contaminated"]
    return out
