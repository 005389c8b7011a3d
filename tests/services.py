"""Real services for the `services` tests: Redis, PostgreSQL and Celery worker processes on loopback.

`.ci/run` starts Redis and a PostgreSQL cluster and exports `WEBRECALL_TEST_REDIS_URL` and
`WEBRECALL_TEST_POSTGRES_URL`; without them these fixtures start their own (`redis-server`, `initdb` +
`pg_ctl` from /usr/lib/postgresql/*/bin) and stop them at the end. Missing binaries skip the tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server: the one CI started, or our own on a free port."""
    if url := os.environ.get("WEBRECALL_TEST_REDIS_URL"):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server), or set WEBRECALL_TEST_REDIS_URL")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL without a database name (`postgres_db` adds a fresh one)."""
    if url := os.environ.get("WEBRECALL_TEST_POSTGRES_URL"):
        yield url.rstrip("/")
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries not found, or set WEBRECALL_TEST_POSTGRES_URL")
    tmp = tempfile.mkdtemp(prefix="webrecall-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
        shutil.chown(tmp, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = free_port(), f"{tmp}/data"
    subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], check=True,
                   capture_output=True)  # fmt: skip
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off -c max_connections=200"
    subprocess.run([*as_user, pg_ctl, "-D", data, "-o", opts, "-l", f"{tmp}/log", "-w", "start"], check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the server (dropped afterwards)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_url}/{name}"
    from webrecall.core import db as dbm

    dbm.get_engine(f"{postgres_url}/{name}").dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(slots=True)
class Workers:
    """Running `celery worker` processes, one process group each (`kill` takes a worker down like a crash)."""

    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, name: str, *, concurrency: int = 1, queues: str = "recall,train") -> None:
        log = Path(tempfile.gettempdir()) / f"webrecall-worker-{name}-{os.getpid()}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "webrecall.workers.celery_app", "worker", "-Q", queues, "-c",
               str(concurrency), "-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle"]  # fmt: skip
        self.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log.open("wb"),
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.logs[name] = log

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.procs)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"worker {name} exited:\n{self.logs[name].read_text()[-3000:]}")
                if " ready." in self.logs[name].read_text(errors="replace"):
                    pending.discard(name)
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"workers not ready after {timeout}s: {sorted(pending)}")

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def celery_workers() -> Iterator[Callable[..., Workers]]:
    """Factory: `celery_workers(n, **settings_env)` starts n single-process workers with WEBRECALL_* env."""
    started: list[Workers] = []

    def start(n: int, **env: str) -> Workers:
        full = {**os.environ, "PYTHONPATH": str(ROOT), **{f"WEBRECALL_{k.upper()}": v for k, v in env.items()}}
        workers = Workers(env=full)
        started.append(workers)
        for i in range(n):
            workers.start(f"w{i + 1}-{uuid.uuid4().hex[:6]}")
        workers.wait_ready()
        return workers

    yield start
    for workers in started:
        workers.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server process on loopback (moto's standalone server, `python -m moto.server`), reached the
    way a deployment reaches its object store: s3fs reads the endpoint and credentials from the standard AWS
    variables (`AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, ...), set here for the session and its child processes."""
    pytest.importorskip("s3fs", reason="the s3 extra is not installed (pip install -e '.[dev]')")
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"webrecall-moto-{os.getpid()}.log"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "webrecall-test", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        _wait_port(port)
        yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the S3 server: `s3://<name>`."""
    import fsspec

    name = f"webrecall-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(name)
    return f"s3://{name}"
