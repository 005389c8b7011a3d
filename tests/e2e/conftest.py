"""The end-to-end harness: the docker-compose topology run natively on loopback.

One session starts what compose starts (Redis with an append-only file, a PostgreSQL cluster, a
Common-Crawl-shaped HTTP mirror); each test deploys the application on it (`stack.deploy()`: a fresh
database, data dir and broker database; the API under uvicorn with `WEBRECALL_EXECUTION=celery`; 2 Celery
workers) and talks to it only over HTTP. Redis and PostgreSQL are ours (not the CI's shared servers from
tests/services.py) because the fault tests restart them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from tests.api.conftest import AUTH, LiveAPI, serve_api
from tests.conftest import CORPUS, ROOT, LoopbackServer, serve
from tests.e2e import crawl
from tests.services import Workers, _pg_bin, _wait_port, free_port
from tests.workers.test_distributed import domain_counts, recalled
from webrecall.core import db as dbm
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.settings import FastTextParams, Settings

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
TERMINAL = {"done", "failed", "cancelled"}


@dataclass(slots=True)
class RedisServer:
    """redis-server as compose runs it (append-only file), restartable on the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always"],
            stdout=(self.workdir / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # what `docker compose restart redis` sends
            self.proc.wait(20)

    def restart(self, down: float = 3.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()


@dataclass(slots=True)
class PostgresServer:
    """A PostgreSQL cluster of our own, restartable on the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    as_user: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _ctl(self, *args: str) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        assert pg_ctl is not None
        subprocess.run([*self.as_user, pg_ctl, "-D", str(self.workdir / "data"), *args], check=True,
                       capture_output=True)  # fmt: skip

    def init(self) -> None:
        initdb = _pg_bin("initdb")
        if initdb is None or _pg_bin("pg_ctl") is None:
            pytest.skip("PostgreSQL server binaries not found")
        if os.geteuid() == 0:  # initdb refuses root
            subprocess.run(["id", "postgres"], check=True, capture_output=True)
            shutil.chown(self.workdir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_user, initdb, "-D", str(self.workdir / "data"), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True)  # fmt: skip
        self.start()

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off -c max_connections=200"
        self._ctl("-o", opts, "-l", str(self.workdir / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")  # fast: every open connection is cut, as in a container restart

    def restart(self, down: float = 3.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def create_db(self) -> str:
        import psycopg

        name = f"e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url}/{name}"


@dataclass(slots=True)
class Deployment:
    """The application on the stack: API + workers bound to one database, data dir and broker database."""

    api: LiveAPI
    workers: Workers
    settings: Settings
    env: dict[str, str]

    @property
    def client(self) -> httpx.Client:
        return self.api.client

    def start_round(self, **body: object) -> int:
        resp = self.client.post("/rounds", json=body, headers=AUTH)
        assert resp.status_code == 202, resp.text
        return int(resp.json()["id"])

    def round(self, number: int) -> dict:
        resp = self.client.get(f"/rounds/{number}")
        resp.raise_for_status()
        return resp.json()

    def wait(self, number: int, timeout: float = 240.0, *, until: set[str] = TERMINAL) -> dict:
        """Poll over HTTP; errors while a dependency is down are counted, not fatal."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                body = self.round(number)
                if body["status"] in until:
                    return body
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"round {number} not {until} after {timeout}s:\n{self.logs()}")
            time.sleep(0.3)

    def wait_running(self, number: int, phase: str, timeout: float = 120.0) -> dict:
        """Until a WARC task of `phase` is running (a fault then hits the round mid-WARC); AssertionError if the round
        ends first, so a fault test cannot pass on a round the fault never met."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.round(number)
            if body["progress"][phase]["running"] > 0:
                return body
            if body["status"] in TERMINAL:
                raise AssertionError(f"round {number} ended ({body['status']}) before a {phase} task was seen running")
            time.sleep(0.05)
        raise AssertionError(f"no {phase} task of round {number} ran within {timeout}s")

    def export_urls(self, number: int) -> list[str]:
        import json

        resp = self.client.get(f"/exports/rounds/{number}/pages", params={"dedup": "false", "decontaminate": "false"})
        resp.raise_for_status()
        return [json.loads(line)["url"] for line in resp.text.splitlines() if line.strip()]

    def recalled(self, number: int) -> list[str]:
        """Every URL in the round's recall shards, duplicates kept."""
        return recalled(self.settings, self.round_id(number))

    def domain_counts(self, number: int) -> dict[str, tuple[int, int]]:
        return domain_counts(self.settings, self.round_id(number))

    def round_id(self, number: int) -> int:
        from sqlmodel import select

        with dbm.session(self.settings.db_url) as db:
            return int(db.exec(select(dbm.Round.id).where(dbm.Round.number == number)).one())

    def tasks(self, number: int) -> list[dbm.WarcTask]:
        from sqlmodel import select

        with dbm.session(self.settings.db_url) as db:
            rid = self.round_id(number)
            return list(db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == rid)).all())

    def logs(self, tail: int = 3000) -> str:
        parts = [f"--- {name}\n{path.read_text(errors='replace')[-tail:]}" for name, path in self.workers.logs.items()]
        api_log = self.api.data_dir / "uvicorn.log"
        parts.append(f"--- api\n{api_log.read_text(errors='replace')[-tail:] if api_log.exists() else ''}")
        return "\n".join(parts)


@dataclass(slots=True)
class Stack:
    redis: RedisServer
    postgres: PostgresServer
    site: Path
    mirror: LoopbackServer
    hostile: dict[str, object]
    tmp: Path
    _redis_db: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @contextmanager
    def deploy(self, *, mirrors: tuple[str, ...] = (), workers: int = 2) -> Iterator[Deployment]:
        db_url = self.postgres.create_db()
        broker = f"{self.redis.url}/{next(self._redis_db)}"
        redis_lib.Redis.from_url(broker).flushdb()
        data = Path(tempfile.mkdtemp(prefix="data-", dir=self.tmp))
        env = {
            "WEBRECALL_DATABASE_URL": db_url, "WEBRECALL_DATA_DIR": str(data), "WEBRECALL_BROKER_URL": broker,
            "WEBRECALL_EXECUTION": "celery", "WEBRECALL_FT_THREADS": "1",
            "WEBRECALL_ALLOWED_BASE_URLS": ",".join([self.mirror.url, *mirrors]),
        }  # fmt: skip
        settings = Settings(database_url=db_url, data_dir=str(data), broker_url=broker, ft=FastTextParams(threads=1))
        dbm.migrate(db_url)  # the compose `migrate` service
        pool = Workers(env={**os.environ, "PYTHONPATH": str(ROOT), **env})
        try:
            for i in range(workers):
                pool.start(f"e2e{i + 1}-{uuid.uuid4().hex[:6]}")
            pool.wait_ready()
            with serve_api(data, **env) as api:
                yield Deployment(api=api, workers=pool, settings=settings, env=env)
        finally:
            pool.stop()
            dbm.get_engine(db_url).dispose()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    site = tmp / "site"  # CC-MAIN-DEV from the shared corpus + our CC-MAIN-E2E
    (site / "crawl-data").mkdir(parents=True)
    (site / "crawl-data/CC-MAIN-DEV").symlink_to(CORPUS / "crawl-data/CC-MAIN-DEV")
    hostile = crawl.build(site)
    (tmp / "redis").mkdir()
    pg_dir = Path(tempfile.mkdtemp(prefix="webrecall-e2e-pg-"))  # not under pytest's tmp: user postgres reads it
    rds, pg = RedisServer(tmp / "redis"), PostgresServer(pg_dir)
    rds.start()
    try:
        pg.init()
        mirror = serve(site)
        try:
            yield Stack(redis=rds, postgres=pg, site=site, mirror=mirror, hostile=hostile, tmp=tmp)
        finally:
            mirror.httpd.shutdown()
            mirror.httpd.server_close()
            pg.stop("immediate")
    finally:
        rds.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Baseline:
    round: dbm.Round
    urls: list[str]
    domains: dict[str, tuple[int, int]]


@pytest.fixture(scope="session")
def e2e_baseline(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The in-process run (SQLite, a local process pool) of the fault rounds' crawl: what every faulty
    distributed run must equal, page for page."""
    s = Settings(data_dir=str(tmp_path_factory.mktemp("inproc")), database_url="", ft=FastTextParams(threads=1))
    dbm.migrate(s.db_url)
    rnd = create_round(s, RoundSpec(crawl_id=crawl.CRAWL, base_url=stack.mirror.url, seed_patterns=SEEDS))
    rnd = run_round(s, rnd.id or 0, processes=2)
    assert rnd.status == "done", rnd.error
    return Baseline(round=rnd, urls=recalled(s, rnd.id or 0), domains=domain_counts(s, rnd.id or 0))


def assert_same_as_baseline(dep: Deployment, number: int, base: Baseline) -> dict:
    """Nothing lost, nothing duplicated: the shards, the export and the counts equal the in-process run."""
    body = dep.round(number)
    assert body["status"] == "done", (body, dep.logs())
    shards, exported = dep.recalled(number), dep.export_urls(number)
    assert len(shards) == len(set(shards)), "a page was recalled twice"
    assert len(exported) == len(set(exported)), "a page was exported twice"
    lost, extra = set(base.urls) - set(shards), set(shards) - set(base.urls)
    assert not lost and not extra, (sorted(lost)[:5], sorted(extra)[:5])
    assert set(exported) == set(base.urls)
    totals = base.round.totals
    assert (body["html_pages"], body["recalled"], body["domains"]) == (
        totals["html_pages"], totals["recalled"], totals["domains"])  # fmt: skip
    assert dep.domain_counts(number) == base.domains
    return body
