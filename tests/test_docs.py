"""The docs stay true: the settings reference matches the settings class, every relative link resolves, and no
user-facing text (docs, CLI help, API docs, annotator UI, bench help) names an internal work item."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from tests.services import ROOT
from webrecall.core.settings import Settings

OPERATIONS = ROOT / "docs" / "operations.md"
ANNOTATOR = ROOT / "webrecall" / "annotator"
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "bench" / "results").glob("*.md"))]  # fmt: skip
WORK_ITEM = re.compile(r"\b(issue|ticket)s?\s*#?\d+", re.IGNORECASE)


def env_default(value: Any) -> str:
    """A default as one would write it in the environment."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def settings_reference(model: type[BaseModel] = Settings, prefix: str = "") -> dict[str, str]:
    """Every environment variable of the settings class (nested settings included) -> its default."""
    prefix = prefix or str(model.model_config.get("env_prefix", ""))
    delimiter = str(Settings.model_config.get("env_nested_delimiter") or "__")
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            out |= settings_reference(kind, str(kind.model_config.get("env_prefix", "")))
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            out |= settings_reference(kind, f"{prefix}{name.upper()}{delimiter}")
        else:
            out[f"{prefix}{name.upper()}"] = env_default(field.get_default(call_default_factory=True))
    return out


def documented_settings() -> dict[str, str]:
    """The settings table of docs/operations.md: `VARIABLE` -> the first backticked value of its default cell."""
    rows: dict[str, str] = {}
    for line in OPERATIONS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`WEBRECALL_[A-Z0-9_]+`", cells[0]):
            default = re.match(r"`([^`]*)`", cells[1])
            rows[cells[0].strip("`")] = default.group(1) if default else ""
    return rows


def test_the_settings_reference_lists_every_setting_with_its_default() -> None:
    expected, documented = settings_reference(), documented_settings()
    missing = {k: v for k, v in expected.items() if k not in documented}
    wrong = {k: (documented[k], v) for k, v in expected.items() if k in documented and documented[k] != v}
    unknown = sorted(set(documented) - set(expected))
    assert not missing, "add to docs/operations.md:\n" + "\n".join(
        f"| `{k}` | {f'`{v}`' if v else ''} | |" for k, v in missing.items()
    )
    assert not wrong, f"defaults in docs/operations.md (documented, actual): {wrong}"
    assert not unknown, f"docs/operations.md documents settings that do not exist: {unknown}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _links(path: Path) -> Iterator[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    yield from re.findall(r"\]\(([^)\s]+)\)", text)


def test_every_relative_link_in_the_docs_resolves() -> None:
    broken = []
    for doc in DOCS:
        for link in _links(doc):
            if re.match(r"[a-z]+:", link):
                continue
            target, _, anchor = link.partition("#")
            file = (doc.parent / target).resolve() if target else doc
            if not file.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {link}")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.MULTILINE)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{doc.relative_to(ROOT)}: {link} (no such heading)")
    assert not broken


def _cli_texts() -> Iterator[str]:
    from webrecall.cli.main import app

    def walk(command: Any) -> Iterator[str]:  # typer's own click: Command, or Group with `commands`
        yield from (command.help or "", command.short_help or "")
        yield from (getattr(p, "help", None) or "" for p in command.params)
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    yield from walk(typer.main.get_command(app))


def _ui_strings(path: Path) -> Iterator[str]:
    """String literals of a UI module, docstrings left out (they document code, not the UI)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}  # fmt: skip
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def _bench_help() -> Iterator[str]:
    """The bench scripts' module docstrings: their --help text."""
    for script in sorted((ROOT / "bench").glob("*.py")):
        yield ast.get_docstring(ast.parse(script.read_text())) or ""


def test_no_user_facing_text_names_an_internal_work_item(tmp_path: Path) -> None:
    from webrecall.api.main import create_app

    api = create_app(Settings(data_dir=str(tmp_path), database_url=f"sqlite:///{tmp_path / 'w.db'}"))
    texts = {
        **{str(doc.relative_to(ROOT)): doc.read_text() for doc in DOCS},
        "webrecall --help": "\n".join(_cli_texts()),
        "OpenAPI": json.dumps(api.openapi()),
        **{str(p.relative_to(ROOT)): "\n".join(_ui_strings(p)) for p in sorted(ANNOTATOR.rglob("*.py"))},
        "bench --help": "\n".join(_bench_help()),
    }
    found = {where: m.group(0) for where, text in texts.items() if (m := WORK_ITEM.search(text))}
    assert not found
