"""URL-level labels files (JSONL: `url`, `label` code / non-code, optional `kind` and `lang`): what a round is
measured on (`eval_labels`) or holds out of training altogether (`holdout_labels`), and the host split that makes
such a file from a labelled crawl."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from webrecall.core.storage import jsonl
from webrecall.core.urls.patterns import url_key


@dataclass(slots=True, frozen=True)
class LabeledUrl:
    url: str
    code: bool
    kind: str | None = None
    lang: str | None = None

    @property
    def key(self) -> str:
        return url_key(self.url)


def read(path: str | Path) -> list[LabeledUrl]:
    """The code / non-code rows of a labels file, local or any fsspec URL (other labels are skipped); ValueError
    naming the bad line."""
    out: list[LabeledUrl] = []
    for n, row in jsonl.rows(path):
        if not isinstance(row, dict) or not isinstance(row.get("url"), str):
            raise ValueError(f"{path}:{n}: expected an object with a string 'url' field")
        if row.get("label") in ("code", "non-code"):
            kind, lang = row.get("kind"), row.get("lang")
            out.append(LabeledUrl(row["url"], row["label"] == "code", kind if isinstance(kind, str) else None,
                                  lang if isinstance(lang, str) else None))  # fmt: skip
    return out


def write(rows: Iterable[LabeledUrl], root: str) -> str:
    """Rows given inline (the API's) as a labels file under the data dir `root`, named by its content, so every
    worker reads the same file; returns its location."""
    import fsspec

    body = "".join(json.dumps({"url": r.url, "label": "code" if r.code else "non-code", "kind": r.kind,
                               "lang": r.lang}, ensure_ascii=False) + "\n" for r in rows)  # fmt: skip
    name = hashlib.sha256(body.encode("utf-8")).hexdigest()[:20]
    location = f"{root.rstrip('/')}/holdouts/{name}.jsonl"
    fs, path = fsspec.core.url_to_fs(location)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w", encoding="utf-8") as fh:
        fh.write(body)
    return location


def keys(*paths: str | Path | None) -> frozenset[str]:
    """The URL keys (`patterns.url_key`) of every row of these files (None: no file)."""
    return frozenset(r.key for p in paths if p for r in read(p))


def host_hash(url_or_host: str) -> float:
    """Where a host falls in [0, 1): the plain SHA-1 of the lower-cased host, the same on every machine."""
    host = (urlsplit(url_or_host).hostname or "") if "/" in url_or_host else url_or_host.lower()
    return int.from_bytes(hashlib.sha1(host.encode("utf-8", "replace")).digest()[:8], "big") % 10_000 / 10_000


def host_split(rows: Iterable[dict], *, fraction: float, kinds: Iterable[str] = ()) -> list[dict]:
    """The rows of a labelled crawl whose host is held out: hosts in the first `fraction` of the host hash, and
    every host that has a row of one of `kinds` (a hand-judged kind is a test set by construction)."""
    rows = list(rows)
    wanted = set(kinds)
    by_kind = {urlsplit(r["url"]).hostname for r in rows if r.get("kind") in wanted}
    return [r for r in rows if host_hash(r["url"]) < fraction or urlsplit(r["url"]).hostname in by_kind]
