"""One read API: SQL lives in core.store (the ledger writes, named queries read); the engine,
the executors, the CLI and the app call those by name and never write SQL of their own."""

import ast
import re

from tests.helpers import REPO

_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|WITH|CREATE|ALTER)\s")
_EXECUTE = {"execute", "executemany", "executescript"}


def _sql_in(path, root=REPO) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in _EXECUTE:
            found.append(f"{path.relative_to(root)}:{node.lineno}: .{node.func.attr}(...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                _SQL.match(node.value):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:40]!r}")
    return found


def test_no_sql_outside_the_store_package():
    files = [p for folder in ("core", "tui") for p in (REPO / folder).rglob("*.py")
             if not p.is_relative_to(REPO / "core" / "store")]
    assert len(files) > 50
    assert [hit for path in files for hit in _sql_in(path)] == []


def test_the_check_sees_sql_where_it_is(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Create the rows."""\nrows = conn.execute(\n    "SELECT 1 FROM runs")\n')
    assert _sql_in(sample, tmp_path) == ["sample.py:2: .execute(...)",
                                         "sample.py:3: 'SELECT 1 FROM runs'"]
