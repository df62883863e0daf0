"""A config mistake names the file, the key and what was expected."""

import json
import subprocess
import sys

import pytest

from core import config
from core.engine.targets import project_config
from core.errors import ConfigError, UnknownTarget
from core.executors import option_checker
from tests.helpers import REPO


def test_defaults_have_a_local_target():
    cfg = config.load_text("")
    assert cfg.target("local").kind == "local"
    assert cfg.target("local").max_parallel == config.DEFAULT_LOCAL_PARALLEL


@pytest.mark.parametrize("text, needle", [
    ("[targets.local]\nmax_parallel = 'four'", "targets.local.max_parallel: expected a positive integer, got 'four'"),
    ("[targets.local]\ngpus = 'some'", "targets.local.gpus: expected \"auto\", \"none\" or a list"),
    ("[targets.local]\ngpus = [0, 0]", "targets.local.gpus: expected distinct GPU ids"),
    ("[snapshot]\nexclude = 'data'", "snapshot.exclude: expected a list of strings"),
    ("[snapshot]\nmax_file_size = 'big'", "snapshot.max_file_size: expected a size"),
    ("[snapshot]\nfoo = 1", "snapshot.foo: unknown key"),
    ("[metrics]\npatterns = ['(']", "metrics.patterns[0]: expected a regular expression"),
    ("[metrics]\npatterns = ['loss']", "named groups"),
    ("[run]\ncancel_grace = -1", "run.cancel_grace: expected a number of seconds"),
    ("[targets.box]\nhost = 'x'", "targets.box.kind: expected one of local, ssh, docker, slurm"),
    ("[targets.local]\nkind = 'docker'", "the name local is reserved"),
    ("[targets.local]\nhost = 'x'", "targets.local.host: unknown key"),
    ("[nonsense]\nx = 1", "nonsense: unknown section"),
    ("[notify]\non_finish = 3", "notify.on_finish: expected a shell command (string) or an argv"),
    ("[notify]\non_fail = []", "notify.on_fail: expected a shell command"),
    ("[notify]\ndesktop = 'always'", "notify.desktop: expected true, false or \"fail\""),
    ("[notify]\ntimeout = -1", "notify.timeout: expected a number of seconds"),
    ("[notify]\non_finsh = 'x'", "notify.on_finsh: unknown key"),
    ("notify = 3", "notify: expected a table, got 3"),
    ("[targets\nx = 1", "invalid TOML"),
])
def test_mistakes_name_file_key_and_expectation(text, needle):
    with pytest.raises(ConfigError) as info:
        config.load_text(text, name="/p/runyard.toml", target_options=option_checker)
    assert info.value.message.startswith("/p/runyard.toml: ")
    assert needle in info.value.message


def test_sizes_are_parsed():
    cfg = config.load_text("[snapshot]\nmax_file_size = '2MB'")
    assert cfg.snapshot.max_file_size == 2_000_000


def test_unknown_target_lists_known_ones():
    with pytest.raises(UnknownTarget) as info:
        config.load_text("").target("gpu-box")
    assert "local" in info.value.hint


def test_project_is_git_root_and_config_found_in_pyproject(tmp_path):
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname='x'\n[tool.runyard.targets.local]\nmax_parallel = 2\n")
    project = config.find_project(root / "src")
    assert project.root == root and project.workdir == "src" and project.is_git
    assert project.config_file == root / "pyproject.toml"
    assert config.load(project, {"XDG_CONFIG_HOME": str(tmp_path / "none")}).target("local").max_parallel == 2


def test_project_config_overrides_user_config(tmp_path):
    user = tmp_path / "cfg" / "runyard" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[targets.local]\nmax_parallel = 8\ngpu_share = 2\n[run]\nenv = {A = '1'}\n")
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "runyard.toml").write_text("[targets.local]\nmax_parallel = 3\n[run]\nenv = {B = '2'}\n")
    cfg = config.load(config.find_project(proj), {"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert cfg.target("local").max_parallel == 3
    assert cfg.target("local").gpu_share == 2
    assert cfg.env == {"A": "1", "B": "2"}


def test_notify_settings_are_parsed_with_their_defaults():
    cfg = config.load_text("[notify]\non_finish = 'cat >> runs.jsonl'\non_fail = ['me', '-u']\n")
    assert cfg.sections["notify"] == {"on_finish": ["/bin/sh", "-c", "cat >> runs.jsonl"],
                                      "on_fail": ["me", "-u"], "desktop": False,
                                      "timeout": config.DEFAULT_NOTIFY_TIMEOUT}


def test_checking_a_config_loads_neither_the_engine_nor_the_app():
    """No import circle (config -> notify -> config) and no registration at import: config
    checks [notify] itself, and the app hands over its parsers when it loads settings."""
    code = ("cfg = config.load_text('[notify]\\non_finish = \"true\"\\n[app]\\ntheme = 3\\n')\n"
            "assert cfg.sections['app'] == {'theme': 3}, cfg.sections\n")
    assert _loaded_after(code, ("core.engine", "tui")) == []


def _loaded_after(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with `prefixes` that a fresh interpreter has loaded after
    `from core import config` and `code`."""
    script = (f"import json, sys\nfrom core import config\n{code}\n"
              f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, check=True)
    return json.loads(proc.stdout)


def test_the_config_sits_below_the_executors_and_the_engine_checks_each_kinds_keys(tmp_path):
    """Reading a config with targets of every kind loads no executor (the app reads it for
    its settings); the engine's reading refuses a mistake in a kind's own keys."""
    text = ('[targets.box]\nkind = "ssh"\nhost = "h"\nhots = 1\n'
            '[targets.dock]\nkind = "docker"\nimage = "i"\n'
            '[targets.hpc]\nkind = "slurm"\npartition = "debug"\n')
    code = (f"cfg = config.load_text({text!r})\n"
            "assert cfg.targets['box'].options['hots'] == 1, 'kept as written'\n")
    assert _loaded_after(code, ("core.executors", "core.remote", "asyncssh", "aiodocker")) == []
    (tmp_path / "runyard.toml").write_text(text)
    project = config.find_project(tmp_path)
    with pytest.raises(ConfigError, match="targets.box.hots: unknown key"):
        project_config(project, {"XDG_CONFIG_HOME": str(tmp_path / "none")})
