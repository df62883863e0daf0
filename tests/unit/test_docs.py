"""The README mentions every command and every flag of the CLI."""

import argparse

from tests.helpers import REPO
from tui.cli.parser import build_parser


def _commands(parser, prefix=""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from _commands(sub, f"{prefix}{name} ")


def test_readme_covers_every_command_and_flag():
    readme = (REPO / "README.md").read_text()
    missing = []
    for name, sub in _commands(build_parser()):
        if f"tui {name}" not in readme:
            missing.append(f"tui {name}")
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and flag not in readme:
                    missing.append(f"tui {name} {flag}")
    assert not missing, f"README lacks: {missing}"


def test_every_state_has_a_glyph_and_a_sort_place():
    from core.models import RunState
    from tui.formatting import STATE_GLYPHS
    from tui.runlist.order import STATE_ORDER
    assert set(STATE_GLYPHS) == {s.value for s in RunState}
    assert set(STATE_ORDER) == set(RunState)


def test_readme_documents_every_field_of_a_runs_json(tmp_path):
    import json
    import re
    import shutil

    from core.store import queries as runs
    from core.store.ledger import Ledger
    fixture = REPO / "tests" / "fixtures" / "store-v1.db"
    shutil.copy(fixture, tmp_path / "runyard.db")
    ledger = Ledger.open(tmp_path / "runyard.db")           # migrated to the newest schema
    fields = set(json.loads(runs.runs_json(ledger.conn, all_runs=True)[0]))
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## JSON output"):readme.index("## Configuration")]
    documented = {name for row in re.findall(r"^\| (.+?) \|", table, re.M)
                  for name in re.findall(r"`(\w+)`", row)}
    assert not fields - documented, f"README's run JSON table lacks: {sorted(fields - documented)}"


def test_the_test_setup_reads_the_debian_mirror_from_apts_sources(tmp_path):
    """No mirror host is written in the repository: the Docker fixture's debootstrap takes
    the mirror apt uses, from deb822 sources or one-line lists."""
    from tests.daemons.dockerd import debian_mirror
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian "
                                           "bookworm main\n")
    assert debian_mirror(tmp_path) == "http://other.example/debian"


def test_no_bare_python_in_what_runs_on_a_stock_debian():
    """Stock Debian has python3 and no `python`: tests that launch a command, the examples
    and the README's examples use sys.executable or python3 (unit tests that only parse a
    command line run nothing)."""
    import re
    offenders = []
    for path in [*(REPO / "tests").rglob("*.py"), *(REPO / "examples").rglob("*"),
                 REPO / "README.md"]:
        if not path.is_file() or path.suffix not in (".py", ".sh", ".toml", ".md") or \
                path.is_relative_to(REPO / "tests" / "unit"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""launch\(\s*["']python["']|["']--["'],\s*["']python["']|"""
                         r"""-- python |command = ["']python """, line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []
