"""The engine talks to executors only through the base class (DESIGN.md): every optional
capability has a default there, and the engine's code neither probes an executor for a
method nor branches on a target's kind. The behaviour itself is the contract test's
(tests/integration/contract)."""

from __future__ import annotations

import ast

from core.config import TARGET_KINDS
from core.executors import executor_class
from core.executors.base import Executor
from tests.helpers import REPO

ENGINE = sorted((REPO / "core" / "engine").glob("*.py"))
CAPABILITIES = ("places_gpus", "takes_shell_env", "run_folders_here", "removes_remote_folders",
                "may_be_unreachable")


def test_the_required_methods_are_abstract_and_the_rest_have_defaults():
    assert Executor.__abstractmethods__ == {"start", "wait", "recover", "cancel"}
    for name in ("gpus", "reach", "health", "probe", "available", "forget", "close",
                 "list_files", "hash_files", "fetch_files", "files_location", "file_address",
                 "resume_path", "stage_files"):
        assert callable(getattr(Executor, name)), name
    assert all(getattr(Executor, name) is False for name in CAPABILITIES)


def test_each_kind_declares_what_it_can_do():
    declared = {kind: {name for name in CAPABILITIES if getattr(executor_class(kind), name)}
                for kind in TARGET_KINDS}
    assert declared == {"local": {"takes_shell_env", "run_folders_here"},
                        "ssh": {"removes_remote_folders", "may_be_unreachable"},
                        "docker": {"may_be_unreachable", "removes_remote_folders"},
                        "slurm": {"places_gpus", "may_be_unreachable"}}


def executor_probes(source: str) -> list[str]:
    """getattr/hasattr calls on something named like an executor."""
    return [ast.unparse(node) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and
            node.func.id in ("getattr", "hasattr") and "executor" in ast.unparse(node.args[0])]


def kind_branches(source: str) -> list[str]:
    """Comparisons of a target's kind (`x.kind == ...`, `kinds != {...}`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Attribute) and side.attr == "kind" or
                   isinstance(side, ast.Name) and side.id in ("kind", "kinds") for side in sides):
                found.append(ast.unparse(node))
    return found


def test_the_scans_find_what_the_engine_used_to_do():
    old = ('if runtime.config.kind == "local" or getattr(runtime.executor, "takes_shell_env", 0):\n'
           '    pass\n'
           'remote = [r for r in runs if hasattr(getattr(registry.get(r), "executor", None), "f")]\n'
           'if resume and kinds != {"local"}:\n    pass\n')
    assert kind_branches(old) == ["runtime.config.kind == 'local'", "kinds != {'local'}"]
    assert len(executor_probes(old)) == 2


def test_the_engine_never_probes_an_executor_nor_branches_on_a_kind():
    assert len(ENGINE) > 10
    found = {path.name: executor_probes(path.read_text()) + kind_branches(path.read_text())
             for path in ENGINE}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_no_error_is_asked_whether_it_is_transient_by_getattr():
    found = [f"{path.relative_to(REPO)}:{node.lineno}"
             for path in sorted((REPO / "core").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and
             node.func.id == "getattr" and len(node.args) > 1 and
             isinstance(node.args[1], ast.Constant) and node.args[1].value == "transient"]
    assert found == []
