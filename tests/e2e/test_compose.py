"""docker-compose.yml is valid and refuses to start without its secrets (Debian's docker-compose, no engine)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_compose_file_validates():
    out = subprocess.run([str(ROOT / ".ci/compose.sh")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_has_the_services_and_no_secrets():
    import yaml

    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    expected = {"redis", "postgres", "migrate", "api", "worker", "annotator", "flower", "commoncrawl-mirror"}
    assert expected <= set(services)
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]  # --scale worker=N
    assert all("healthcheck" in services[s] for s in services if s != "migrate")
    assert "${WEBRECALL_API_TOKEN:?" in text and "${POSTGRES_PASSWORD:?" in text
    assert "change-me" not in text
