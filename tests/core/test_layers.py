"""The core's layering, checked on its own imports: no adapter framework, and arrows only downward."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.services import ROOT

CORE = ROOT / "webrecall" / "core"
FRAMEWORKS = {"typer", "rich", "celery", "kombu", "fastapi", "starlette", "uvicorn", "streamlit"}
ADAPTERS = {"cli", "api", "workers", "annotator", "mirror", "migrations"}
LAYERS = [  # lowest first; a part may import only parts of lower layers (and itself)
    {"settings", "errors", "page", "urls", "text", "storage"},
    {"crawl", "db", "bulk", "labelfile"},
    {"model", "queries", "totals", "params", "label_store"},
    {"pipeline", "growth"},
    {"labelling", "evaluation"},
    {"lifecycle", "views"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _part(path: Path) -> str:
    rel = path.relative_to(CORE).parts
    return rel[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if node.module == "webrecall.core":
                names += [f"webrecall.core.{a.name}" for a in node.names]
    return names


def test_every_part_of_the_core_has_a_layer() -> None:
    parts = {_part(p) for p in CORE.rglob("*.py") if p.name != "__init__.py" or p.parent != CORE}
    assert parts == set(RANK)


def test_the_core_imports_no_adapter_and_no_adapter_framework() -> None:
    bad = [(str(p.relative_to(ROOT)), name) for p in CORE.rglob("*.py") for name in _imports(p)
           if name.split(".")[0] in FRAMEWORKS or (name.startswith("webrecall.") and name.split(".")[1] in ADAPTERS)]
    assert bad == []


def test_arrows_point_only_down() -> None:
    upward = []
    for path in CORE.rglob("*.py"):
        if path.parent == CORE and path.name == "__init__.py":
            continue
        mine = _part(path)
        for name in _imports(path):
            bits = name.split(".")
            if bits[:2] != ["webrecall", "core"] or len(bits) < 3 or bits[2] == mine:
                continue
            if RANK[bits[2]] >= RANK[mine]:
                upward.append(f"{path.relative_to(ROOT)} -> {name}")
    assert upward == []
