"""Dependencies point inward: every import of every module, including those inside functions,
stays within what its package may use (scorer <- adapters <- api, worker <- ops)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scorer", "adapters", "api", "worker", "ops")
FORBIDDEN = {
    "scorer": {"adapters", "api", "worker", "ops"},
    "adapters": {"api", "worker", "ops"},
    "api": {"worker", "ops"},
    "worker": {"api", "ops"},
    "ops": set(),
}
"""The project's packages each package must not import."""


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level package, line) of every absolute import in the file, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_inward(package):
    assert modules(package), f"no modules found in {package}/"
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in modules(package)
        for imported, line in imported_packages(path)
        if imported in FORBIDDEN[package]
    ]
    assert violations == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ops.model import register_bundle\n    import api.app\n")
    assert imported_packages(module) == {("ops", 2), ("api", 3)}
