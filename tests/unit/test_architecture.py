"""The dependency rule of DESIGN.md: serve → ingest → retrieval, serve → answer → retrieval, never backwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "retrieval": {"answer", "ingest", "serve"},
    "ingest": {"answer", "serve"},
    "answer": {"ingest", "serve"},
    "docent": {"answer", "ingest", "retrieval", "serve"},  # the client installs without the server
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(package):
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (REPO / package).rglob("*.py")
        if imported_packages(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_settings_are_not_built_at_import_time():
    for path in REPO.glob("*/**/*.py"):
        if path.parts[len(REPO.parts)] in {"answer", "ingest", "retrieval", "serve"}:
            for node in ast.parse(path.read_text()).body:  # module level only
                if isinstance(node, ast.Assign | ast.AnnAssign) and "Settings(" in ast.unparse(node):
                    pytest.fail(f"{path}: settings built at import time")
