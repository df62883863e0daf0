"""Configuration: finding the project, reading its TOML, and checking every key.

Files, later ones overriding earlier ones key by key:
1. the user's `$XDG_CONFIG_HOME/runyard/config.toml` (default ~/.config/runyard/config.toml)
2. the project's `runyard.toml`, or `[tool.runyard]` in its `pyproject.toml`

A mistake names the file, the key and what was expected, and nothing is launched.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.errors import ConfigError, UnknownTarget
from core.metrics.rules import MetricRules, check_pattern, check_reader
from core.paths import user_config_path

TARGET_KINDS = ("local", "ssh", "docker", "slurm")
DEFAULT_MAX_FILE_SIZE = 50 * 1024 * 1024
DEFAULT_LOCAL_PARALLEL = 4
DEFAULT_SLURM_PARALLEL = 100     # Slurm queues and places them; runyard only follows them


@dataclass(frozen=True)
class Project:
    """A folder runs are launched from: its root, the config file found, and where in it we are."""

    root: Path
    config_file: Path | None
    workdir: str            # cwd relative to root, "" at the root
    is_git: bool


@dataclass(frozen=True)
class SnapshotConfig:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE


@dataclass(frozen=True)
class TargetConfig:
    """One target: where runs execute, and how many at once."""

    name: str
    kind: str = "local"
    max_parallel: int = DEFAULT_LOCAL_PARALLEL
    gpus: str | int | tuple[int, ...] = "auto"   # "auto", "none", declared ids; docker: "all", N
    gpu_share: int = 1                       # runs that may share one GPU
    options: dict = field(default_factory=dict)   # kind-specific, checked by the executor
    source: str = "default"

    def to_dict(self) -> dict:
        gpus = list(self.gpus) if isinstance(self.gpus, tuple) else self.gpus
        return {"name": self.name, "kind": self.kind, "max_parallel": self.max_parallel,
                "gpus": gpus, "gpu_share": self.gpu_share, "options": self.options,
                "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> "TargetConfig":
        gpus = data.get("gpus", "auto")
        return cls(name=data["name"], kind=data.get("kind", "local"),
                   max_parallel=int(data.get("max_parallel", DEFAULT_LOCAL_PARALLEL)),
                   gpus=tuple(gpus) if isinstance(gpus, list) else gpus,
                   gpu_share=int(data.get("gpu_share", 1)), options=dict(data.get("options", {})),
                   source=data.get("source", "default"))


@dataclass(frozen=True)
class Config:
    files: tuple[Path, ...] = ()
    snapshot: SnapshotConfig = SnapshotConfig()
    metrics: MetricRules = MetricRules()
    env: dict = field(default_factory=dict)
    cancel_grace: float = 10.0
    outputs: tuple[str, ...] = ()            # [run] outputs: globs every run pulls when it ends
    targets: dict[str, TargetConfig] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)   # other sections, parsed by their owners
    better: dict[str, str] = field(default_factory=dict)     # [results] better: metric -> lower/higher

    def target(self, name: str) -> TargetConfig:
        if name not in self.targets:
            known = ", ".join(sorted(self.targets))
            raise UnknownTarget(f"no target named {name!r}",
                                hint=f"known targets: {known}; define others under [targets.NAME]")
        return self.targets[name]


# ---------------------------------------------------------------- project discovery

def find_project(cwd: str | os.PathLike) -> Project:
    """The project around `cwd`: git work tree root, else the folder of the nearest config file."""
    cwd = Path(cwd).absolute()
    config_file = None
    git_root = None
    for folder in (cwd, *cwd.parents):
        if config_file is None:
            config_file = _config_in(folder)
        if git_root is None and (folder / ".git").exists():
            git_root = folder
        if config_file and git_root:
            break
    if config_file is not None and git_root is not None and not config_file.is_relative_to(git_root):
        config_file = None
    root = git_root or (config_file.parent if config_file else cwd)
    workdir = cwd.relative_to(root).as_posix()
    return Project(root=root, config_file=config_file, workdir="" if workdir == "." else workdir,
                   is_git=git_root is not None)


def _config_in(folder: Path) -> Path | None:
    candidate = folder / "runyard.toml"
    if candidate.is_file():
        return candidate
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = pyproject.read_text(errors="replace")
        except OSError:
            return None
        if re.search(r"^\s*\[\s*tool\.runyard[\].]", text, re.M):
            return pyproject
    return None


# ---------------------------------------------------------------- loading

def load(project: Project | None = None, env: dict[str, str] | None = None,
         sections: dict[str, SectionParser] | None = None,
         target_options: TargetOptions | None = None) -> Config:
    """Read and check the user config and the project config; raise ConfigError on a mistake.
    `sections`: parsers of the sections the caller owns (see APP_SECTIONS); `target_options`:
    the checker of each kind's own target keys (see TargetOptions)."""
    layers: list[tuple[Path, dict]] = []
    user_file = user_config_path(env)
    if user_file.is_file():
        layers.append((user_file, _read_toml(user_file)))
    if project is not None and project.config_file is not None:
        data = _read_toml(project.config_file)
        if project.config_file.name == "pyproject.toml":
            data = data.get("tool", {}).get("runyard", {})
            if not isinstance(data, dict):
                raise ConfigError(f"{project.config_file}: tool.runyard: expected a table")
        layers.append((project.config_file, data))
    return build(layers, sections, target_options)


def load_text(text: str, name: str = "runyard.toml",
              sections: dict[str, SectionParser] | None = None,
              target_options: TargetOptions | None = None) -> Config:
    """Check a config given as text (used by tests and `tui config check`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None
    return build([(Path(name), data)], sections, target_options)


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}",
                          hint="check the line and column named above") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


# A section owned elsewhere is checked by a parser its owner passes to `load`: it gets
# (file, value) and returns its parsed form or raises ConfigError. Nothing registers one
# globally. The full-screen app passes the parsers of [app] and [keys] (tui.app.settings);
# the engine and the headless CLI never load the app, so there these sections are kept
# as they are, unchecked, and a launch never fails because of them.
SectionParser = Callable[[Path, Any], Any]
APP_SECTIONS = ("app", "keys")
# A target's own keys (an ssh target's host, a docker target's image) are its kind's: the
# executor module of the kind checks them (core.executors.option_checker). The config sits
# below the executors and never imports them: the engine, which starts runs on targets,
# passes that function to `load`. Without it (the app reading its settings) a target's own
# keys are kept as written, unchecked; the engine still refuses a mistake in them.
TargetOptions = Callable[[str], Callable[[Path, str, dict], dict]]   # kind -> its checker
DEFAULT_NOTIFY_TIMEOUT = 30.0


def build(layers: list[tuple[Path, dict]],
          sections: dict[str, SectionParser] | None = None,
          target_options: TargetOptions | None = None) -> Config:
    snapshot = SnapshotConfig()
    metrics = MetricRules()
    env: dict[str, str] = {}
    grace = 10.0
    outputs: tuple[str, ...] = ()
    target_tables: dict[str, tuple[Path, dict]] = {}
    parsers = {"notify": _notify, **(sections or {})}
    others: dict[str, Any] = {}
    better: dict[str, str] = {}
    for path, data in layers:
        for key, value in data.items():
            if key == "snapshot":
                snapshot = _snapshot(path, value, snapshot)
            elif key == "metrics":
                metrics = _metrics(path, value, metrics)
            elif key == "run":
                run_env, run_grace, run_outputs = _run(path, value)
                env.update(run_env)
                grace = run_grace if run_grace is not None else grace
                outputs = run_outputs if run_outputs is not None else outputs
            elif key == "results":
                better.update(_results(path, value))
            elif key == "targets":
                _table(path, "targets", value)
                for name, table in value.items():
                    _table(path, f"targets.{name}", table)
                    earlier = target_tables.get(name, (path, {}))[1]
                    target_tables[name] = (path, {**earlier, **table})
            elif key in parsers or key in APP_SECTIONS:
                parsed = parsers[key](path, value) if key in parsers else value
                before = others.get(key)
                if isinstance(before, dict) and isinstance(parsed, dict):
                    parsed = {**before, **parsed}                      # key by key
                others[key] = parsed
            else:
                known = ", ".join(sorted({"snapshot", "metrics", "run", "targets", "results",
                                          *parsers, *APP_SECTIONS}))
                raise ConfigError(f"{path}: {key}: unknown section", hint=f"known sections: {known}")
    targets = {"local": TargetConfig(name="local")}
    for name, (path, table) in target_tables.items():
        targets[name] = _target(path, name, table, target_options)
    return Config(files=tuple(p for p, _ in layers), snapshot=snapshot,
                  metrics=metrics, env=env, cancel_grace=grace, outputs=outputs,
                  targets=targets, sections=others, better=better)


# ---------------------------------------------------------------- checks

def fail(path: Path, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: {key}: expected {expected}, got {value!r}")


def _table(path: Path, key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise fail(path, key, "a table", value)
    return value


def _unknown(path: Path, where: str, table: dict, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{path}: {where}.{key}: unknown key",
                              hint=f"allowed in [{where}]: {', '.join(sorted(allowed))}")


def string_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(path, key, "a list of strings", value)
    return tuple(value)


def positive_int(path: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(path, key, "a positive integer", value)
    return value


# A duration longer than this (about 31 years) is a mistake, and too long for asyncio timers.
MAX_SECONDS = 1e9


def non_negative_number(path: Path, key: str, value: Any) -> float:
    """Seconds: a finite number, 0 or more (TOML's inf and nan are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0 <= value < MAX_SECONDS:
        raise fail(path, key, "a number of seconds (0 or more, finite)", value)
    return float(value)


def string(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail(path, key, "a non-empty string", value)
    return value


def string_table(path: Path, key: str, value: Any) -> dict[str, str]:
    table = _table(path, key, value)
    out = {}
    for name, item in table.items():
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise fail(path, f"{key}.{name}", "a string", item)
        out[str(name)] = str(item)
    return out


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.I)
_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "KIB": 1024, "M": 1e6, "MB": 1e6, "MIB": 1024**2,
          "G": 1e9, "GB": 1e9, "GIB": 1024**3, "T": 1e12, "TB": 1e12, "TIB": 1024**4}


def byte_size(path: Path, key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        unit = (m.group(2) or "").upper()
        if unit in _UNITS:
            return int(float(m.group(1)) * _UNITS[unit])
    raise fail(path, key, 'a size such as 50000000 or "50MB"', value)


def _snapshot(path: Path, value: Any, base: SnapshotConfig) -> SnapshotConfig:
    table = _table(path, "snapshot", value)
    _unknown(path, "snapshot", table, {"include", "exclude", "max_file_size"})
    return SnapshotConfig(
        include=string_list(path, "snapshot.include", table["include"]) if "include" in table
        else base.include,
        exclude=string_list(path, "snapshot.exclude", table["exclude"]) if "exclude" in table
        else base.exclude,
        max_file_size=byte_size(path, "snapshot.max_file_size", table["max_file_size"])
        if "max_file_size" in table else base.max_file_size)


def _metrics(path: Path, value: Any, base: MetricRules) -> MetricRules:
    """`[metrics]`: patterns, readers switched off, names left out; each key given replaces
    the one of an earlier file."""
    table = _table(path, "metrics", value)
    _unknown(path, "metrics", table, {"patterns", "disable", "ignore"})
    patterns = string_list(path, "metrics.patterns", table["patterns"]) \
        if "patterns" in table else base.patterns
    for i, pattern in enumerate(patterns if "patterns" in table else ()):
        if (expected := check_pattern(pattern)) is not None:
            raise fail(path, f"metrics.patterns[{i}]", expected, pattern)
    disable = string_list(path, "metrics.disable", table["disable"]) \
        if "disable" in table else base.disable
    for i, name in enumerate(disable if "disable" in table else ()):
        if (expected := check_reader(name)) is not None:
            raise fail(path, f"metrics.disable[{i}]", expected, name)
    ignore = string_list(path, "metrics.ignore", table["ignore"]) \
        if "ignore" in table else base.ignore
    return MetricRules(patterns=tuple(patterns), disable=tuple(disable), ignore=tuple(ignore))


def _results(path: Path, value: Any) -> dict[str, str]:
    """`[results] better = { val_wer = "lower", bleu = "higher" }`: which way a metric is
    better where its name does not say (the default: lower for loss-like names)."""
    table = _table(path, "results", value)
    _unknown(path, "results", table, {"better"})
    better = string_table(path, "results.better", table.get("better", {}))
    for name, word in better.items():
        if word not in ("lower", "higher"):
            raise fail(path, f"results.better.{name}", '"lower" or "higher"', word)
    return better


def _run(path: Path, value: Any) -> tuple[dict[str, str], float | None, tuple[str, ...] | None]:
    table = _table(path, "run", value)
    _unknown(path, "run", table, {"env", "cancel_grace", "outputs"})
    env = string_table(path, "run.env", table.get("env", {}))
    grace = non_negative_number(path, "run.cancel_grace", table["cancel_grace"]) \
        if "cancel_grace" in table else None
    outputs = None
    if "outputs" in table:
        found = table["outputs"]
        found = [found] if isinstance(found, str) else found
        if not isinstance(found, list) or not all(isinstance(g, str) and output_glob_problem(g)
                                                   is None for g in found):
            raise fail(path, "run.outputs", "a list of globs relative to the run's working "
                                            "folder, such as [\"results/*.csv\"]", table["outputs"])
        outputs = tuple(found)
    return env, grace, outputs


def output_glob_problem(glob: str) -> str | None:
    """Why a declared output glob cannot be used (None: it can): it names files in the
    run's working folder, so it is relative and never leaves it."""
    if not glob.strip() or "\0" in glob or "\n" in glob:
        return "an empty glob, or one with a newline or NUL"
    if glob.startswith("/") or ".." in glob.split("/"):
        return "a glob inside the run's working folder (relative, no ..)"
    return None


def _notify(path: Path, value: Any) -> dict:
    """`[notify]`: hooks and desktop notifications when a run ends (core.engine.notify)."""
    table = _table(path, "notify", value)
    _unknown(path, "notify", table, {"on_finish", "on_fail", "desktop", "timeout"})
    out: dict = {"desktop": False, "timeout": DEFAULT_NOTIFY_TIMEOUT}
    for key in ("on_finish", "on_fail"):
        if key in table:
            out[key] = _hook_command(path, f"notify.{key}", table[key])
    if "desktop" in table:
        if table["desktop"] not in (True, False, "fail"):
            raise fail(path, "notify.desktop", 'true, false or "fail"', table["desktop"])
        out["desktop"] = table["desktop"]
    if "timeout" in table:
        out["timeout"] = non_negative_number(path, "notify.timeout", table["timeout"])
    return out


def _hook_command(path: Path, key: str, item: Any) -> list[str]:
    if isinstance(item, str) and item.strip():
        return ["/bin/sh", "-c", item]
    if isinstance(item, list) and item and all(isinstance(w, str) and w for w in item):
        return list(item)
    raise fail(path, key, "a shell command (string) or an argv (list of strings)", item)


_COMMON_TARGET_KEYS = {"kind", "max_parallel", "gpus", "gpu_share"}


def _target(path: Path, name: str, table: dict,
            target_options: TargetOptions | None) -> TargetConfig:
    where = f"targets.{name}"
    kind = table.get("kind", "local" if name == "local" else None)
    if kind not in TARGET_KINDS:
        raise fail(path, f"{where}.kind", "one of " + ", ".join(TARGET_KINDS), kind)
    if name == "local" and kind != "local":
        raise fail(path, f"{where}.kind", '"local" (the name local is reserved)', kind)
    default_parallel = DEFAULT_SLURM_PARALLEL if kind == "slurm" else DEFAULT_LOCAL_PARALLEL
    max_parallel = positive_int(path, f"{where}.max_parallel",
                                table.get("max_parallel", default_parallel))
    gpus = _gpus(path, f"{where}.gpus", table.get("gpus", "auto"), kind)
    share = positive_int(path, f"{where}.gpu_share", table.get("gpu_share", 1))
    options = {k: v for k, v in table.items() if k not in _COMMON_TARGET_KEYS}
    if target_options is not None:
        options = target_options(kind)(path, where, options)
    return TargetConfig(name=name, kind=kind, max_parallel=max_parallel, gpus=gpus,
                        gpu_share=share, options=options, source=str(path))


def _gpus(path: Path, key: str, value: Any, kind: str = "local") -> str | int | tuple[int, ...]:
    """GPU ids the scheduler hands out ("auto", "none", [ids]); docker targets also take
    "all" or a count: a fixed Docker device request every container gets, not scheduled."""
    if value in ("auto", "none"):
        return value
    if kind == "slurm":
        raise fail(path, key, '"auto" or "none" (Slurm places GPUs: launch with --gpus N, and '
                              'set gpu_type or gres for the kind)', value)
    if kind == "docker" and (value == "all" or (isinstance(value, int) and
                                                not isinstance(value, bool) and value > 0)):
        return value
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                       for v in value):
        if len(set(value)) != len(value):
            raise fail(path, key, "distinct GPU ids", value)
        return tuple(value)
    extra = ', "all", a count' if kind == "docker" else ""
    raise fail(path, key, f'"auto", "none"{extra} or a list of GPU ids such as [0, 1]', value)
