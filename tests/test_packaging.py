"""The wheel is the whole service: installed without the source tree, it finds its migrations and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.services import ROOT


def test_the_wheel_runs_without_the_source_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "webrecall", src / "webrecall", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                    "-w", str(wheels)], check=True, cwd=tmp_path)  # fmt: skip
    (wheel,) = wheels.glob("webrecall-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "webrecall/migrations/script.py.mako" in names
    assert any(n.startswith("webrecall/migrations/versions/0001") for n in names)
    assert not any(n.split("/")[0] in {"recall", "api", "workers", "annotator", "tests"} for n in names)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)  # fmt: skip
    work = tmp_path / "elsewhere"  # not the repository: nothing can be found beside the package
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "WEBRECALL_DATA_DIR": str(work / "data"),
           "WEBRECALL_DATABASE_URL": f"sqlite:///{work / 'data' / 'w.db'}"}  # fmt: skip
    where = subprocess.run([sys.executable, "-c", "import webrecall; print(webrecall.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(str(site))
    out = subprocess.run([sys.executable, "-m", "webrecall.cli.main", "init", "--json"], cwd=work, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"
    status = subprocess.run([sys.executable, "-m", "webrecall.cli.main", "round", "list", "--json"], cwd=work, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert status.returncode == 0, status.stderr
