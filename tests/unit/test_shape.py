"""The code keeps the shape ARCHITECTURE.md describes: layer contracts, types, lazy imports
that say why, one home per test helper, and pages that name every package."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers import REPO, require

SOURCES = [p for root in ("core", "tui") for p in sorted((REPO / root).rglob("*.py"))]
TESTS = sorted((REPO / "tests").rglob("*.py"))


def _packages() -> list[str]:
    """Every package of core/ and tui/, dotted (core, core.engine, tui.app.screens, ...)."""
    return sorted(".".join(p.parent.relative_to(REPO).parts) for p in SOURCES
                  if p.name == "__init__.py")


def test_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    require(linter.exists(), "import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([str(linter)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_layer_rules_are_all_contracts():
    """The rules the architecture states are each an import-linter contract (not only a
    sentence): a contract deleted or weakened fails here, not silently."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    forbidden = {(source, banned) for c in config["contracts"] if c["type"] == "forbidden"
                 for source in c["source_modules"] for banned in c["forbidden_modules"]}
    for rule in [("core", "textual"), ("core", "rich"), ("core", "tui"),
                 ("tui.cli", "textual"), ("tui.cli", "rich"), ("tui.runlist", "textual"),
                 ("tui", "core.engine"), ("tui", "core.executors"), ("tui", "core.remote"),
                 ("core.store", "core.engine"), ("core.store", "core.executors"),
                 ("core.spec", "core.engine"), ("core.spec", "core.executors"),
                 ("core.executors", "core.engine"), ("core.remote", "core.executors")]:
        assert rule in forbidden, f"no contract forbids {rule[0]} -> {rule[1]}"
    assert not any(c.get("allow_indirect_imports") for c in config["contracts"])
    layers = {c["containers"][0]: c for c in config["contracts"] if c["type"] == "layers"}
    assert layers["core"]["exhaustive"] and layers["tui"]["exhaustive"]
    shared = set(layers["core"]["layers"][-1].replace(" ", "").split(":"))
    top_level = {p.stem for p in (REPO / "core").glob("*.py") if p.stem != "__init__"}
    assert shared - top_level == {"metrics"}, "the shared level: the top level and the " \
        "metric readers (core.config checks [metrics] with them)"
    assert top_level <= shared, "every top-level core module sits in the bottom layer"
    assert len(top_level) <= 12, f"core's shared top level has grown: {sorted(top_level)}"


def test_types_check_clean():
    require(importlib.util.find_spec("mypy") is not None,
            "mypy is not installed (pip install -e '.[test]')")
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def _lazy_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, text, says why) of every import inside a function or class, outside
    `if TYPE_CHECKING:`; why = a `lazy` comment on its line or in the comment block (with
    the imports it covers) right above it."""
    text = path.read_text()
    lines = text.splitlines()
    found = []

    def visit(node: ast.AST, checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            typing_only = checking or (isinstance(child, ast.If) and isinstance(
                child.test, ast.Name) and child.test.id == "TYPE_CHECKING")
            if isinstance(child, (ast.Import, ast.ImportFrom)) and child.col_offset and \
                    not checking:
                found.append((child.lineno, lines[child.lineno - 1].strip(),
                              _says_lazy(lines, child.lineno - 1)))
            visit(child, typing_only)

    visit(ast.parse(text), False)
    return found


def _says_lazy(lines: list[str], index: int) -> bool:
    if "lazy" in lines[index].partition("#")[2].lower():
        return True
    while index > 0:
        index -= 1
        above = lines[index].strip()
        if above.startswith("#"):
            if "lazy" in above.lower():
                return True
        elif not above.startswith(("import ", "from ")):
            return False
    return False


def test_every_lazy_import_says_why():
    """Imports sit at module top; one that stays inside a function has a `# lazy:`
    comment giving the figure tests/bench/bench_imports.py measures for it."""
    unexplained = [f"{p.relative_to(REPO)}:{line}: {text}" for p in SOURCES
                   for line, text, why in _lazy_imports(p) if not why]
    assert not unexplained, "lazy imports without a reason:\n" + "\n".join(unexplained)


def test_the_lazy_import_check_sees_an_unexplained_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import json\n\n\ndef g():\n    # lazy: costly\n"
                      "    import json\n\n\nif TYPE_CHECKING:\n    import os\n")
    assert [why for _line, _text, why in _lazy_imports(sample)] == [False, True]


def test_test_helpers_come_from_modules_and_exist_once():
    """conftest.py files hold fixtures; helpers are imported from modules (tests.helpers,
    tests.standins, tests.tui.apps, tests/daemons/); a test module is never imported by
    another; the stand-in nvidia-smi, free ports and deadlines are written once."""
    problems = []
    for path in [p for p in TESTS if p.name != "test_shape.py"]:
        text = path.read_text()
        name = path.relative_to(REPO)
        if re.search(r"^\s*from tests(\.\w+)*\.conftest import|^\s*import tests(\.\w+)*"
                     r"\.conftest", text, re.M):
            problems.append(f"{name}: imports from a conftest.py")
        if re.search(r"^\s*from tests(\.\w+)*\.test_\w+ import", text, re.M):
            problems.append(f"{name}: imports from another test module")
        if "def free_port" in text and path != REPO / "tests" / "helpers.py":
            problems.append(f"{name}: a second free_port")
        if "monotonic() +" in text and path != REPO / "tests" / "helpers.py":
            problems.append(f"{name}: a deadline loop of its own (use tests.helpers.wait_for)")
        if "Stand-in for nvidia-smi" in text and path != REPO / "tests" / "standins.py":
            problems.append(f"{name}: a second nvidia-smi stand-in")
    assert not problems, "\n".join(problems)


def test_the_daemons_tests_start_live_in_tests_daemons():
    """sshd, dockerd and the Slurm daemons are started in tests/daemons/ only."""
    starts = re.compile(r"/usr/sbin/(sshd|slurmctld|slurmd|munged)\b|\[\s*[\"']dockerd[\"']")
    outside = [str(p.relative_to(REPO)) for p in TESTS
               if starts.search(p.read_text()) and "daemons" not in p.parts
               and p.name != "test_shape.py"]
    assert not outside, f"daemons started outside tests/daemons/: {outside}"


def test_the_architecture_page_and_the_readme_name_every_package():
    page = (REPO / "ARCHITECTURE.md").read_text()
    layout = (REPO / "README.md").read_text()
    layout = layout[layout.index("## Layout"):]
    for package in _packages():
        folder = package.replace(".", "/") + "/"
        assert folder in page, f"ARCHITECTURE.md does not name {folder}"
        assert folder in layout, f"the README's layout section does not name {folder}"
    for contract in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
            "importlinter"]["contracts"]:
        assert contract["name"] in page, f"ARCHITECTURE.md does not state: {contract['name']}"
