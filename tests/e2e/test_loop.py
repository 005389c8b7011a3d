"""Two rounds of the loop on the natively-run compose topology, only through the HTTP API.

Round 1 (CC-MAIN-DEV, 3 WARC files, seeded with two documentation sites) -> the queue -> a scripted annotator
labels every queued domain with the majority label of its pages in labels/CC-MAIN-DEV.jsonl -> round 2 while
8 clients poll and export -> every number checked against the labels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import select

from tests.annotator.conftest import title
from tests.api.conftest import AUTH, free_port
from tests.conftest import CORPUS, ROOT
from tests.e2e.conftest import SEEDS, Deployment, Stack
from webrecall.core.db import Label, session

pytestmark = pytest.mark.e2e
LIMIT = 3
CLIENTS = 8


def truth() -> dict[str, dict]:
    with open(CORPUS / "labels/CC-MAIN-DEV.jsonl", encoding="utf-8") as fh:
        return {row["url"]: row for row in map(json.loads, fh)}


def measure(urls: list[str], pages: dict[str, dict]) -> dict[str, float]:
    code = {u for u, r in pages.items() if r["label"] == "code"}
    hit = len(code & set(urls))
    return {"precision": hit / len(urls), "recall": hit / len(code), "code": len(code), "recalled": len(urls)}


def scripted_labels(queue: list[dict], pages: dict[str, dict]) -> list[dict]:
    """A domain's label: the majority label of its pages (what an annotator looking at it would say)."""
    by_host: dict[str, Counter[str]] = defaultdict(Counter)
    for url, row in pages.items():
        by_host[(urlsplit(url).hostname or "").lower()][row["label"]] += 1
    out = []
    for item in queue:
        votes = by_host.get(item["domain"])
        if votes:
            out.append({"pattern": f"{item['domain']}/", "label": votes.most_common(1)[0][0]})
    return out


class Load:
    """CLIENTS threads polling a round, the queue, stats, domains and exporting round 1, until stopped."""

    def __init__(self, url: str, number: int) -> None:
        self.url, self.number = url, number
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)]

    def _client(self, i: int) -> None:
        paths = [("status", f"/rounds/{self.number}"), ("queue", "/queue"), ("stats", "/stats"),
                 ("domains", "/domains?round=1&limit=50"), ("export", "/exports/rounds/1/pages")]  # fmt: skip
        with httpx.Client(base_url=self.url, timeout=60) as client:
            n = i
            while not self.stop.is_set():
                kind, path = paths[n % len(paths)]
                n += 1
                t0 = time.perf_counter()
                try:
                    resp = client.get(path)
                    resp.read()
                    if resp.status_code != 200:
                        self.errors[f"{kind} {resp.status_code}"] += 1
                except httpx.HTTPError as exc:
                    self.errors[f"{kind} {type(exc).__name__}"] += 1
                self.latency[kind].append(time.perf_counter() - t0)
                self.stop.wait(0.1)  # bounded: ~8 requests per 100 ms at most

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def p95(self, kind: str | None = None) -> float:
        values = sorted(v for k, vs in self.latency.items() if kind in (None, k) for v in vs)
        return values[min(len(values) - 1, int(0.95 * len(values)))]


def _round_pages(pages: dict[str, dict], n_warcs: int) -> dict[str, dict]:
    names = {f"CC-MAIN-DEV-{i:05d}.warc.gz" for i in range(n_warcs)}
    return {u: r for u, r in pages.items() if r["warc"].rsplit("/", 1)[-1] in names}


def test_two_rounds_through_the_api(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    pages = _round_pages(truth(), LIMIT)
    with stack.deploy() as dep:
        t0 = time.perf_counter()
        r1 = run(dep, crawl_id="CC-MAIN-DEV", base_url=stack.mirror.url, limit=LIMIT, seed_patterns=SEEDS)
        t1 = time.perf_counter() - t0
        assert r1["html_pages"] == len(pages)  # one labelled row per HTML page of those files
        urls1 = dep.export_urls(1)
        assert len(urls1) == len(set(urls1)) == r1["recalled"]
        m1 = measure(urls1, pages)
        assert m1["precision"] >= 0.95, m1

        queue = dep.client.get("/queue", params={"round": 1, "limit": 500}).json()
        assert queue["count"] > 0 and queue["data"], queue
        labels = scripted_labels(queue["data"], pages)
        assert labels
        resp = dep.client.post("/labels", json={"labels": labels}, headers=AUTH)
        assert resp.status_code == 201 and resp.json()["imported"] == len(labels), resp.text

        t0 = time.perf_counter()
        number = dep.start_round(crawl_id="CC-MAIN-DEV", base_url=stack.mirror.url, limit=LIMIT)
        with Load(dep.api.url, number) as load, annotator_server(dep) as annotator_url:
            dep.wait_running(number, "recall")  # past training: these labels are for round 3, not this one
            label_seconds = label_under_load(dep, pages, annotator_url, monkeypatch)
            r2 = dep.wait(number)
        t2 = time.perf_counter() - t0
        assert len(label_seconds) >= 3
        label_p95 = sorted(label_seconds)[min(len(label_seconds) - 1, int(0.95 * len(label_seconds)))]
        assert r2["status"] == "done", (r2, dep.logs())
        assert not load.errors, load.errors
        urls2 = dep.export_urls(2)
        assert len(urls2) == len(set(urls2)) == r2["recalled"]
        m2 = measure(urls2, pages)
        assert r2["html_pages"] == len(pages)
        assert m2["recall"] >= m1["recall"], (m1, m2)
        assert m2["precision"] >= 0.9, m2
        requests = sum(len(v) for v in load.latency.values())
        p95 = {k: round(load.p95(k) * 1000) for k in load.latency}
        print(f"\nround 1: {t1:.0f}s {m1}\nround 2: {t2:.0f}s {m2}; {len(labels)} domain labels"
              f"\nload: {CLIENTS} clients, {requests} requests, p95 {load.p95() * 1000:.0f} ms, per route (ms) {p95}"
              f"\nannotator under load: {len(label_seconds)} label actions, p95 {label_p95 * 1000:.0f} ms")


def run(dep: Deployment, **body: object) -> dict:
    number = dep.start_round(**body)
    out = dep.wait(number)
    assert out["status"] == "done", (out, dep.logs())
    return out


@contextmanager
def annotator_server(dep: Deployment) -> Iterator[str]:
    """The real annotator (`webrecall annotator`) on the deployment's database, as compose runs it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webrecall.cli.main", "annotator", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **dep.env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _up(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the annotator did not start")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def label_under_load(dep: Deployment, pages: dict[str, dict], url: str, monkeypatch: pytest.MonkeyPatch,
                     actions: int = 8) -> list[float]:  # fmt: skip
    """Label queued domains with the app's own buttons (AppTest runs the page script and its callbacks against
    the deployment's PostgreSQL) while the API is under load; returns each label action's seconds."""
    from streamlit.testing.v1 import AppTest

    from webrecall.core.labelling.accounts import create_account

    for key, value in dep.env.items():
        monkeypatch.setenv(key, value)
    with session(dep.settings.db_url) as db:
        create_account(db, "e2e-annotator", "e2e-password-123")
    truth_by_host: dict[str, Counter[str]] = defaultdict(Counter)
    for page_url, row in pages.items():
        truth_by_host[(urlsplit(page_url).hostname or "").lower()][row["label"]] += 1
    at = AppTest.from_file(str(ROOT / "webrecall" / "annotator" / "streamlit_app.py"), default_timeout=60)
    at.session_state["user"] = "e2e-annotator"
    at.run()
    seconds: list[float] = []
    while len(seconds) < actions and title(at) != "Label":
        domain = title(at)
        votes = truth_by_host.get(domain)
        button = "Domain: code" if votes and votes.most_common(1)[0][0] == "code" else "Domain: not code"
        assert httpx.get(f"{url}/_stcore/health", timeout=10).status_code == 200  # the server answers too
        t0 = time.perf_counter()
        next(b for b in at.button if b.label == button).click()
        at.run()
        seconds.append(time.perf_counter() - t0)
    with session(dep.settings.db_url) as db:
        written = db.exec(select(Label).where(Label.annotator == "e2e-annotator")).all()
    assert len(written) == len(seconds)  # every action wrote its label
    return seconds
