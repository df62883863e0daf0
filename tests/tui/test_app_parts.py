"""The app's plain parts: filter words, ordering, columns, log windows, spec TOML, settings."""

import json
import random

import pytest

from core import config as configuration
from core.errors import ConfigError, UsageError
from core.models import Run, RunSpec, RunState
from core.requests import CloneRequest
from tui import log_file, spec_toml
from tui.app import settings as app_settings
from tui.runlist import columns as run_columns
from tui.runlist import order as run_order
from tui.runlist import results
from tui.app import themes
from tui.log_file import LogFile
from tui.runlist.filters import parse
from tui.runlist.rows import RunRow


def row(run_id, state="succeeded", params=None, metrics=None, parent=None, tags=(),
        target="local", name="train", group=None):
    return RunRow(id=run_id, name=name, state=RunState(state), reason=None, exit_code=None,
                  target=target, gpu_ids=(), gpu_count=0,
                  template_json=json.dumps(["python", f"{name}.py"]), params=params or {},
                  tags=tuple(tags), parent=parent, created_at="",
                  started_at="2026-01-01T00:00:00.000Z", finished_at="2026-01-01T00:00:10.000Z",
                  metrics=metrics or {}, group=group, signature=(run_id,))


ROWS = [row(1, params={"lr": 0.1, "opt": "adam"}, metrics={"loss": 0.5}, tags=["base"]),
        row(2, "failed", params={"lr": 0.01, "opt": "sgd"}, metrics={"loss": 0.9}),
        row(3, "running", params={"lr": 0.003}, parent=1, target="box1", name="eval"),
        row(4, "queued", params={"lr": 0.01, "opt": "adam"}, parent=3)]


@pytest.mark.parametrize("text, ids", [
    ("", [1, 2, 3, 4]), ("running", [3]), ("state:failed", [2]), ("active", [3, 4]),
    ("lr<0.01", [3]), ("lr>=0.01", [1, 2, 4]), ("opt=adam", [1, 4]), ("opt!=adam", [2, 3]),
    ("loss<0.6", [1]), ("tag:base", [1]), ("target:box1", [3]), ("parent:3", [4]),
    ("eval", [3]), ("EVAL running", [3]), ("lr<0.01 failed", []), ("2", [2]),
])
def test_filter_words(text, ids):
    assert [r.id for r in ROWS if parse(text)(r)] == ids


def test_sort_by_every_column_and_group_by_lineage():
    columns = results.parse_columns(["lr,opt,loss"], ROWS)
    ctx = run_order.SortContext(now=100.0, gpu=lambda r: None,
                                results={c.name: c for c in columns}, cells=results.Cells())
    for column in (*run_order.SORTS, "lr", "opt", "loss"):
        key, reverse = run_order.ordering(column, ctx, False)
        shown, _ = run_order.arrange(ROWS, key, reverse, run_order.GROUPINGS["none"])
        assert sorted(r.id for r, _ in shown) == [1, 2, 3, 4], column
    key, reverse = run_order.ordering("loss", ctx, False)
    by_metric, _ = run_order.arrange(ROWS, key, reverse, run_order.GROUPINGS["none"])
    assert [r.id for r, _ in by_metric] == [1, 2, 3, 4], "lowest first, missing values last"
    key, reverse = run_order.ordering("loss", ctx, True)
    by_metric, _ = run_order.arrange(ROWS, key, reverse, run_order.GROUPINGS["none"])
    assert [r.id for r, _ in by_metric] == [2, 1, 3, 4], "highest first, missing still last"
    tree, _ = run_order.arrange(ROWS, run_order.sort_key("id", ctx), True,
                                run_order.GROUPINGS["lineage"])
    assert [(r.id, d) for r, d in tree] == [(2, 0), (1, 0), (3, 1), (4, 2)]


def test_a_sweep_is_one_group_that_folds():
    rows = [row(1), row(2, group=7), row(3, group=7), row(4), row(5, group=7)]
    by_id_desc = run_order.sort_key("id", None)
    shown, heads = run_order.arrange(rows, by_id_desc, True, run_order.GROUPINGS["sweep"])
    assert [(r.id, d) for r, d in shown] == [(5, 0), (3, 1), (2, 1), (4, 0), (1, 0)]
    assert heads == {5: run_order.Head(("group", 7), 3, False)}
    folded, heads = run_order.arrange(rows, by_id_desc, True, run_order.GROUPINGS["sweep"],
                                      frozenset({("group", 7)}))
    assert [r.id for r, _ in folded] == [5, 4, 1] and heads[5].folded
    assert run_columns.name_text(rows[4], 0, heads[5]) == "▸ train +2"


def test_a_long_lineage_needs_no_recursion():
    chain = [row(1)] + [row(i, parent=i - 1) for i in range(2, 5001)]
    tree, _ = run_order.arrange(chain, lambda r: r.id, False, run_order.GROUPINGS["lineage"])
    assert tree[-1] == (chain[-1], 4999)


def test_a_forty_column_pane_keeps_state_id_name_and_metric():
    lr, opt, loss, acc = (results.ResultColumn("param", "lr"), results.ResultColumn("param", "opt"),
                          results.ResultColumn("metric", "loss"),
                          results.ResultColumn("metric", "acc"))
    widths = run_columns.Widths(id=5, name=12, parent=5, target=9,
                                results=((lr, 6), (opt, 5), (loss, 8), (acc, 7)), main="loss",
                                gpu=True)
    narrow = [c.name for c in run_columns.layout(40, widths)]
    assert narrow == ["mark", "id", "name", "elapsed", "lr", "loss"], narrow
    assert [c.name for c in run_columns.layout(34, widths)] == ["mark", "id", "name", "elapsed",
                                                                "loss"]
    assert sum(c.width for c in run_columns.layout(40, widths)) + len(narrow) - 1 <= 40
    wide = [c.name for c in run_columns.layout(160, widths)]
    assert wide == ["mark", "id", "name", "parent", "target", "elapsed", "lr", "opt", "loss",
                    "spark", "acc", "gpu"]
    middle = [c.name for c in run_columns.layout(64, widths)]
    assert middle == ["mark", "id", "name", "elapsed", "lr", "opt", "loss", "spark", "acc"], \
        "GPU, parent and target give way before any results column"


def test_cells_never_carry_control_characters():
    hostile = row(9, name="x\x1b]0;TITLE\x07y\tz", params={"k": "a\x1b[2Jb"})
    assert run_columns.name_text(hostile, 0) == "xy z"
    assert run_columns.params_text(hostile, ["k"]) == "k=ab"
    assert run_columns.name_text(hostile, 0, run_order.Head(1, 3, True), "▶1 ✓2") == \
        "▸ xy z +2 ▶1 ✓2"
    assert run_columns.sparkline([3, 2, 1, float("nan"), 0]) == "█▆▃▁"
    assert run_columns.gpu_text([{"utilization_pct": 80, "memory_used_mb": 2048},
                                 {"utilization_pct": 60, "memory_used_mb": 1024}]) == "70% 3.0G"


def test_log_windows_match_the_lines_of_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(log_file, "MAX_SPAN", 100_000)
    rng = random.Random(7)
    lines = [b"x" * rng.choice([0, 1, 7, 80, 3000, 70_000]) for _ in range(2000)] + [b"end"]
    path = tmp_path / "output.log"
    path.write_bytes(b"\n".join(lines))                    # no final newline
    log = LogFile(path)
    size = log.size()
    forward = log.spans_after(0, 10_000)
    assert [len(lines[i]) for i in range(len(lines))] == [b - a for a, b in forward]
    assert log.spans_before(size, 10_000) == forward
    middle = forward[1000][0]
    assert log.spans_before(middle, 3) == forward[997:1000]
    assert log.spans_after(middle, 3) == forward[1000:1003]
    assert len(log._blocks) <= log_file.CACHE_BLOCKS


def test_log_search_finds_across_chunk_edges(tmp_path, monkeypatch):
    monkeypatch.setattr(log_file, "SEARCH_CHUNK", 1000)
    data = bytearray(b"." * 10_000)
    for at in (995, 4000, 9998):
        data[at:at + 2] = b"Hi"
    path = tmp_path / "output.log"
    path.write_bytes(bytes(data) + b"\n")
    log = LogFile(path)
    log.size()
    assert log.search("hi", 10_001, backward=True) == 9998
    assert log.search("hi", 9998, backward=True) == 4000
    assert log.search("hi", 4000, backward=True) == 995
    assert log.search("hi", 995, backward=True) == -1
    assert log.search("hi", 996, backward=False) == 4000


def test_log_search_folds_the_case_of_any_letter_and_keeps_byte_offsets(tmp_path, monkeypatch):
    monkeypatch.setattr(log_file, "SEARCH_CHUNK", 64)
    lines = [b"x" * 50, "Époque 1: ÉCHEC réseau".encode(), b"\xff\xfe broken",
             "fin: échec".encode()]
    path = tmp_path / "output.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    data = path.read_bytes()
    first, second = data.index("ÉCHEC".encode()), data.index("échec".encode())
    log = LogFile(path)
    log.size()
    assert log.search("échec", 0, backward=False) == first
    assert log.search("ÉCHEC", first + 1, backward=False) == second
    assert log.search("Échec", len(data), backward=True) == second
    assert log.search("échec", second, backward=True) == first
    assert log.search("RÉSEAU", 0, backward=False) == data.index("réseau".encode())
    assert log.search("échecs", 0, backward=False) == -1


def _run() -> Run:
    spec = RunSpec(command=["python", "train.py", "--lr", "0.1"], template=["python", "train.py",
                   "--lr", "0.1"], params={"lr": 0.1, "use_amp": True}, env={"A": "1"},
                   tags=["t"])
    return Run(id=5, spec=spec, state=RunState.SUCCEEDED, snapshot="s", project="/p", workdir="")


def test_a_spec_edited_as_toml_becomes_a_clone_request():
    run = _run()
    text = spec_toml.to_toml(run)
    unchanged = spec_toml.to_clone_request(text, run)
    assert isinstance(unchanged, CloneRequest) and unchanged.parent == 5 and unchanged.set == []
    edited = text.replace("lr = 0.1", "lr = 0.03").replace('code = "parent"', 'code = "current"')
    edited = edited.replace('command = ["python", "train.py"', 'command = ["python3", "train.py"')
    request = spec_toml.to_clone_request(edited + 'B = "2"\n', run)
    assert request.set == ["lr=0.03"] and request.code == "current"
    assert request.template == ["python3", "train.py", "--lr", "0.1"]
    assert request.env_vars == ["B=2"]
    assert spec_toml.to_clone_request("   \n", run) is None
    with pytest.raises(UsageError, match="gpus"):
        spec_toml.to_clone_request(text.replace("gpus = 0", "gpus = -1"), run)
    with pytest.raises(UsageError, match="not valid TOML"):
        spec_toml.to_clone_request("command = [", run)
    with pytest.raises(UsageError, match="clone request: target: expected a string"):
        spec_toml.to_clone_request(text.replace('target = "local"', "target = 3"), run)


def test_app_settings_are_checked_and_merge_key_by_key(tmp_path, monkeypatch):
    user = tmp_path / "config" / "runyard" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[app]\ntheme = "light"\nbell = true\n[keys]\nclone = "K"\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "runyard.toml").write_text('[app]\ntoasts = "failures"\n[keys]\nrerun = "R"\n')
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    settings, problems = app_settings.load(project, environ=environ)
    assert problems == []
    assert (settings.theme, settings.bell, settings.toasts) == ("light", True, "failures")
    assert settings.keys == {"clone": "K", "rerun": "R"}
    settings, _ = app_settings.load(project, theme="contrast", environ=environ)
    assert settings.theme == "contrast", "--theme wins"
    (project / "runyard.toml").write_text('[keys]\nexplode = "E"\n')
    settings, problems = app_settings.load(project, environ=environ)
    assert "keys.explode: unknown binding id" in problems[0] and settings.keys == {}
    (project / "runyard.toml").write_text('[keys]\nquit = "ctrl+b"\n')
    assert "tmux" in app_settings.load(project, environ=environ)[1][0]


def test_a_remapped_key_another_binding_has_is_refused(tmp_path):
    """`clone = "C"`, the README's own example, took compare's key: both said C in the
    footer and help, and C only cloned."""
    project = tmp_path / "project"
    project.mkdir()
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    (project / "runyard.toml").write_text('[keys]\nclone = "C"\n')
    settings, problems = app_settings.load(project, environ=environ)
    assert "keys.clone: C is compare's key already" in problems[0] and settings.keys == {}
    (project / "runyard.toml").write_text('[keys]\nclone = "C"\ncompare = "ctrl+k"\n')
    settings, problems = app_settings.load(project, environ=environ)
    assert problems == [] and settings.keys == {"clone": "C", "compare": "ctrl+k"}
    (project / "runyard.toml").write_text('[keys]\nlog_search = "n"\n')
    assert "keys.log_search: n is log_older's key already" in \
        app_settings.load(project, environ=environ)[1][0]


def test_the_engine_accepts_app_sections_it_cannot_check():
    config = configuration.load_text('[app]\ntheme = 3\n[keys]\nwhatever = 1\n')
    assert config.sections["app"] == {"theme": 3}
    with pytest.raises(ConfigError, match="unknown section"):
        configuration.load_text("[nope]\n")


@pytest.mark.parametrize("text, needle", [
    ('[app]\ntheme = 3\n', "/p/runyard.toml: app.theme: expected a non-empty string, got 3"),
    ('[app]\ntoast = "all"\n', "/p/runyard.toml: app.toast: unknown key"),
    ('[app]\nbell = "yes"\n', "/p/runyard.toml: app.bell: expected true or false"),
    ('[keys]\nwhatever = "w"\n', "/p/runyard.toml: keys.whatever: unknown binding id"),
    ('[keys]\nclone = 3\n', "/p/runyard.toml: keys.clone: expected keys such as"),
])
def test_the_app_checks_its_sections_naming_file_key_and_expectation(text, needle):
    with pytest.raises(ConfigError) as info:
        configuration.load_text(text, name="/p/runyard.toml", sections=app_settings.SECTIONS)
    assert info.value.message.startswith(needle)


def test_theme_files_load_and_a_broken_one_is_reported(tmp_path):
    loaded, problems = themes.load_themes()
    assert {"quiet", "light", "contrast", "ansi16"} <= set(loaded) and not problems
    assert loaded["ansi16"].ansi and loaded["light"].dark is False
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (tmp_path / "bad-toml.toml").write_text('primary = \n')
    (tmp_path / "mine.toml").write_text('primary = "#336699"\n')
    loaded, problems = themes.load_themes([tmp_path])
    assert list(loaded) == ["mine"]
    assert len(problems) == 2 and any("not-a-colour" in p for p in problems)


def test_the_readme_lists_every_binding_and_app_setting():
    from tests.helpers import REPO
    from tui.app.keys import ALL_IDS
    readme = (REPO / "README.md").read_text()
    missing = [i for i in sorted(ALL_IDS) if f"`{i}`" not in readme]
    assert not missing, f"README's key table lacks {missing}"
    for key in ("app.theme", "app.toasts", "app.bell", "app.main_metric", "keys.ID",
                "RUNYARD_THEME", "RUNYARD_GPU_POLL", "NO_COLOR", "--theme"):
        assert key in readme, key


def test_the_log_reader_finds_the_last_lines_whole_and_reads_through(tmp_path):
    """What `tui logs` uses: --tail N counts newlines (a 3 MB line is one line, not three
    MAX_SPAN pieces; a final newline ends the last line, a missing one does not hide it),
    and read_through sees bytes appended after the reader opened the file."""
    path = tmp_path / "output.log"
    long_line = b"x" * (3 * log_file.MAX_SPAN)
    path.write_bytes(b"first\n" + long_line + b"\nlast\n")
    log = LogFile(path)
    size = log.size()
    assert log.tail_start(1) == size - len(b"last\n")
    assert log.tail_start(2) == len(b"first\n")
    assert log.tail_start(3) == 0 and log.tail_start(10) == 0 and log.tail_start(0) == size
    assert log.read_through(log.tail_start(2), size) == long_line + b"\nlast\n"
    with open(path, "ab") as handle:
        handle.write(b"partial")
    assert log.tail_start(1) == size and log.read_through(size, 100) == b"partial"
    assert LogFile(tmp_path / "not-yet").read_through(0, 10) == b""
