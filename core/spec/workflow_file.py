"""Workflow files (`tui launch --file FILE`): a sweep, or a chain of steps, in TOML.

A file without `[[step]]` tables is one step made of its top-level keys; with them, each
`[[step]]` is a step and the top-level keys are defaults for every step. Keys of a step:

    name = "train"                      # needed to be named in `after`; unique
    command = "python train.py --lr {lr}"   # a string (split like a shell) or a list
    after = ["prepare", 12]             # steps of this file (all their runs) or run ids
    sweep = { lr = [0.1, 0.01], wd = "log(1e-5, 1e-2)" }
    samples = 8                         # random search over `sweep`; seed = 1 repeats it
    set = { epochs = 3 }  env = { K = "V" }  tags = ["x"]  target = "box1"  gpus = 1
    retries = 2  retry_on = "CUDA out of memory"  retry_delay = 5  stop_if = ["loss is nan"]
    checkpoints = "checkpoints"  outputs = ["results/*.csv"]  priority = 0
    search = "tpe"  objective = "val_loss:min"  trials = 40  parallel = 4  prune = "asha"

A step with `search` is an adaptive search (core.spec.search) over its `sweep` table; a
step that comes `after` it waits until it has ended and gets its best trial's values as
`{best.KEY}` in its command and `set` values.

Steps may be listed in any order; they are launched in dependency order, and a cycle is
refused with the steps that form it. Options given on the command line win over the file.
"""

from __future__ import annotations

import difflib
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.spec import search as search_spec
from core.spec import sweeps
from core.errors import UsageError
from core.requests import RunPolicy
from core.spec.params import as_text


@dataclass(frozen=True)
class Step:
    argv: list[str]
    name: str | None = None
    set: dict = field(default_factory=dict)          # param values, as text
    env_vars: dict = field(default_factory=dict)
    target: str | None = None
    gpus: int | None = None
    tags: tuple[str, ...] = ()
    priority: int = 0
    sweep: sweeps.Sweep | None = None
    search: search_spec.Search | None = None     # an adaptive search over the sweep's axes
    policy: RunPolicy = field(default_factory=RunPolicy)   # `after` here: run ids only
    after_steps: tuple[str, ...] = ()


STEP_KEYS = ("name", "command", "after", "sweep", "samples", "seed", "set", "env", "tags",
             "target", "gpus", "retries", "retry_on", "retry_delay", "stop_if", "checkpoints",
             "outputs", "priority", "search", "objective", "trials", "parallel", "prune")
SEARCH_KEYS = ("objective", "trials", "parallel", "prune")


def load(path: Path) -> tuple[dict | None, list[dict]]:
    """The file's top-level defaults and its step tables; a file without [[step]] tables
    is one step, with no defaults (None)."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--file {path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None
    tables = data.pop("step", None)
    _check_keys(path, "", data, STEP_KEYS + ("step",))
    if tables is None:
        return None, [data]
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{path}: step: expected one or more [[step]] tables",
                         hint="write each step as a [[step]] table (two brackets)")
    for i, table in enumerate(tables):
        _check_keys(path, step_label(table, i), table, STEP_KEYS)
    return data, tables


def step_label(table: dict, index: int) -> str:
    """How an error names a step: `step[1] (train): `, its index and its plain name."""
    name = table.get("name")
    shown = f" ({name})" if isinstance(name, str) and name.isprintable() and \
        0 < len(name) < 40 else ""
    return f"step[{index}]{shown}: "


def _check_keys(path: Path, where: str, table: dict, known: tuple[str, ...]) -> None:
    """Refuse a key the file format does not have, naming it (a typo is never ignored)."""
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            plain = key.isascii() and key.isprintable() and " " not in key and len(key) <= 40
            shown = key if plain else repr(key)[:60]
            raise UsageError(f"{path}: {where}{shown}: unknown key",
                             hint=(f"did you mean {close[0]}? " if close else "")
                             + "keys: " + ", ".join(known))


def step_from_table(path: Path, where: str, table: dict, fallback_argv: list[str],
                    better: dict[str, str] | None = None) -> Step:
    """One step from its table (defaults already merged in); `where` names it in errors."""
    def get(key, kind, what):
        value = table.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)
                                  and kind is not bool):
            raise UsageError(f"{path}: {where}{key}: expected {what}, got {value!r}")
        return value

    command = table.get("command")
    if isinstance(command, str):
        argv = shlex.split(command)
    elif isinstance(command, list) and all(isinstance(w, str) for w in command):
        argv = list(command)
    elif command is None:
        argv = list(fallback_argv)
    else:
        raise UsageError(f"{path}: {where}command: expected a string or a list of strings")
    if not argv:
        raise UsageError(f"{path}: {where}command: nothing to run",
                         hint="give command = \"...\" in the file, or a command after --")
    sweep = None
    search = _search(path, where, table, get, better)
    if search is None and table.get("sweep") is not None:
        axes_table = get("sweep", dict, "a table of param = values")
        axes = [sweeps.axis_from_toml(k, v, f"{path}: {where}sweep")
                for k, v in axes_table.items()]
        sweep = sweeps.build(axes, get("samples", int, "an integer"), get("seed", int, "an integer"))
    elif search is None and table.get("samples") is not None:
        raise UsageError(f"{path}: {where}samples: a random search needs a [sweep] table")
    after = table.get("after", [])
    if isinstance(after, (str, int)):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, (str, int)) for a in after):
        raise UsageError(f"{path}: {where}after: expected step names or run ids")
    stop_if = table.get("stop_if", [])
    stop_if = [stop_if] if isinstance(stop_if, str) else stop_if
    if not isinstance(stop_if, list) or not all(isinstance(s, str) for s in stop_if):
        raise UsageError(f"{path}: {where}stop_if: expected a rule or a list of rules")
    tags = get("tags", list, "a list of strings") or []
    outputs = table.get("outputs", [])
    outputs = [outputs] if isinstance(outputs, str) else outputs
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise UsageError(f"{path}: {where}outputs: expected a glob or a list of globs")
    delay = table.get("retry_delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float))):
        raise UsageError(f"{path}: {where}retry_delay: expected seconds, got {delay!r}")
    try:
        policy = RunPolicy(after=[a for a in after if isinstance(a, int)],
                           retries=get("retries", int, "an integer"),
                           retry_on=get("retry_on", str, "a regular expression"),
                           retry_delay=float(delay) if delay is not None else None,
                           stop_if=stop_if, checkpoints=get("checkpoints", str, "a folder"),
                           outputs=outputs)
    except UsageError as exc:        # what TOML allows and a policy does not (inf, NUL)
        raise UsageError(f"{path}: {where}{exc.message.removeprefix(RunPolicy.TITLE + ': ')}",
                         hint=exc.hint) from None
    return Step(argv=argv, name=get("name", str, "a string"),
                set={k: as_text(v) for k, v in (get("set", dict, "a table") or {}).items()},
                env_vars={k: as_text(v) for k, v in (get("env", dict, "a table") or {}).items()},
                target=get("target", str, "a target name"), gpus=get("gpus", int, "an integer"),
                tags=tuple(str(t) for t in tags), priority=get("priority", int, "an integer") or 0,
                sweep=sweep, search=search, policy=policy,
                after_steps=tuple(a for a in after if isinstance(a, str)))


def _search(path: Path, where: str, table: dict, get, better) -> search_spec.Search | None:
    """The step's adaptive search (`search = "tpe"` and its keys), or None."""
    sampler = get("search", str, "a sampler name such as \"tpe\"")
    if sampler is None:
        given = [key for key in SEARCH_KEYS if table.get(key) is not None]
        if given:
            raise UsageError(f"{path}: {where}{given[0]}: goes with search = \"tpe\" (or "
                             "another sampler)", hint=search_spec.SAMPLER_HINT)
        return None
    if table.get("samples") is not None:
        raise UsageError(f"{path}: {where}samples: a search chooses its trials itself",
                         hint="leave out samples, or drop search for a random sweep")
    axes = get("sweep", dict, "a table of param = values") or {}
    space = [search_spec.dimension_from_toml(k, v, f"{path}: {where}sweep")
             for k, v in axes.items()]
    try:
        return search_spec.build(space, sampler, get("objective", str, "METRIC[:min|max]"),
                                 get("trials", int, "an integer"),
                                 get("parallel", int, "an integer"),
                                 get("prune", str, "a pruner name"),
                                 get("seed", int, "an integer"), better)
    except UsageError as exc:
        raise UsageError(f"{path}: {where}{exc.message}", hint=exc.hint) from None


def steps_from_file(path: Path, fallback_argv: list[str],
                    better: dict[str, str] | None = None) -> list[Step]:
    defaults, tables = load(path)
    steps = []
    for i, table in enumerate(tables):
        if defaults is None:                      # the file is the step
            steps.append(step_from_table(path, "", table, fallback_argv, better))
        else:
            steps.append(step_from_table(path, step_label(table, i), {**defaults, **table},
                                         fallback_argv, better))
    names = [s.name for s in steps if s.name]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"{path}: two steps are named {dup!r}")
    return in_dependency_order(path, steps)


def in_dependency_order(path: Path, steps: list[Step]) -> list[Step]:
    """The steps sorted so each comes after the steps it names; a cycle is refused."""
    by_name = {s.name: s for s in steps if s.name}
    for step in steps:
        for name in step.after_steps:
            if name not in by_name:
                raise UsageError(f"{path}: step {step.name or '?'!r}: after {name!r}: no step "
                                 "has that name", hint="known steps: " + ", ".join(by_name))
    done: list[Step] = []
    state: dict[int, str] = {}

    def visit(step: Step, trail: list[str]) -> None:
        mark = state.get(id(step))
        if mark == "done":
            return
        label = step.name or "?"           # a step in a cycle is named (others name it)
        if mark == "visiting":
            cycle = trail[trail.index(label):] + [label]
            raise UsageError(f"{path}: the steps form a cycle: {' -> '.join(cycle)}",
                             hint="a step can only come after steps that do not need it")
        state[id(step)] = "visiting"
        for name in step.after_steps:
            visit(by_name[name], trail + [label])
        state[id(step)] = "done"
        done.append(step)

    for step in steps:
        visit(step, [])
    return done


def with_overrides(step: Step, **given) -> Step:
    """The step with the command line's explicit values on top (None means not given)."""
    changes = {k: v for k, v in given.items() if v is not None}
    return replace(step, **changes) if changes else step
