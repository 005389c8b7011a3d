"""The API under test: a real uvicorn server on loopback (subprocess), or the app in-process for TestClient."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from webrecall.core import db as dbm
from webrecall.core.settings import Settings

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(slots=True)
class LiveAPI:
    url: str
    data_dir: Path
    client: httpx.Client
    proc: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a fresh data dir with a migrated SQLite database; keyword arguments override."""

    def make(**overrides: object) -> Settings:
        data = tmp_path / f"data-{len(list(tmp_path.iterdir()))}"
        settings = Settings(data_dir=str(data), database_url="", api_token=TOKEN, **overrides)  # type: ignore[arg-type]
        dbm.migrate(settings.db_url)
        return settings

    return make


@contextmanager
def serve_api(data: Path, **env_overrides: str) -> Iterator[LiveAPI]:
    """uvicorn `webrecall.api.main:app` on a free loopback port, in its own process group (its runners stop with it)."""
    port = free_port()
    env = {**os.environ, "WEBRECALL_DATA_DIR": str(data), "WEBRECALL_DATABASE_URL": "", "WEBRECALL_API_TOKEN": TOKEN,
           "WEBRECALL_EXECUTION": "inprocess", "WEBRECALL_PROCESSES": "2", "WEBRECALL_ENV": "development",
           **env_overrides}  # fmt: skip
    log = open(data / "uvicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webrecall.api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start: {(data / 'uvicorn.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield LiveAPI(url=url, data_dir=data, client=client, proc=proc)
    finally:
        client.close()
        try:  # the group may be gone already (a server that failed to start): nothing to stop then
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, corpus_server: str) -> Iterator[LiveAPI]:
    """The API with in-process rounds, allowed to read the served corpus."""
    with serve_api(tmp_path_factory.mktemp("api-data"), WEBRECALL_ALLOWED_BASE_URLS=corpus_server) as api:
        yield api


def wait_for(client: httpx.Client, number: int, statuses: set[str], timeout: float = 300) -> dict:
    """Poll a round until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/rounds/{number}").json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"round {number} still {body['status']} after {timeout}s: {body}")
        time.sleep(0.5)
