"""The detector library sits at the bottom: its modules import nothing of lakewatch but the detectors package,
``lakewatch.config`` and ``lakewatch.errors`` (evaluation, scoring and the jobs build on it, never the reverse)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lakewatch.detectors
from tests.syntax import parse

PACKAGE = "lakewatch.detectors"
ALLOWED = (PACKAGE, "lakewatch.config", "lakewatch.errors")
FOLDER = Path(lakewatch.detectors.__file__).parent
MODULES = sorted(FOLDER.rglob("*.py"))


def module_name(path: Path) -> str:
    """The dotted name of a module file under the detectors folder."""
    parts = path.relative_to(FOLDER).with_suffix("").parts
    return ".".join([PACKAGE, *(p for p in parts if p != "__init__")])


def lakewatch_imports(source: str, name: str, is_package: bool = False) -> list[str]:
    """Every lakewatch module that module `name` (with text `source`) imports, function-level imports included,
    relative imports resolved against its package."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(parse(source, name)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [base] if node.module else [f"{base}.{alias.name}" for alias in node.names]
    return [module for module in found if module == "lakewatch" or module.startswith("lakewatch.")]


def _allowed(module: str) -> bool:
    return any(module == root or module.startswith(root + ".") for root in ALLOWED)


def test_the_folder_is_found() -> None:
    assert {"__init__.py", "base.py", "registry.py", "persist.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_detector_modules_import_nothing_above_them(path: Path) -> None:
    imported = lakewatch_imports(path.read_text(), module_name(path), path.name == "__init__.py")
    upward = [module for module in imported if not _allowed(module)]
    assert not upward, f"{module_name(path)} imports {upward}; a detector module may only import {list(ALLOWED)}"


def test_the_check_sees_function_level_and_relative_imports() -> None:
    source = ("from lakewatch.detectors.base import Detector\n"
              "from . import registry\n"
              "def f():\n"
              "    from lakewatch.evaluation import run_on_nab\n"
              "    import lakewatch.scoring\n"
              "    from ..tuning import objective\n")
    imported = lakewatch_imports(source, "lakewatch.detectors.probe")
    assert sorted(imported) == ["lakewatch.detectors.base", "lakewatch.detectors.registry", "lakewatch.evaluation",
                                "lakewatch.scoring", "lakewatch.tuning"]
    assert [m for m in imported if not _allowed(m)] == ["lakewatch.evaluation", "lakewatch.scoring",
                                                         "lakewatch.tuning"]
