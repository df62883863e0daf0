"""Sweeps: a grid or a seeded random search over param values, expanded into points.

An axis is `KEY=SPEC` (`--sweep` on the command line, `[sweep]` in a workflow file):
- `0.1,0.01,0.001`: a list of values (text kept as given);
- `range(START, STOP[, STEP])`: integers as Python's range (STOP excluded);
- `int(A, B)`: integers from A to B, both included;
- `uniform(A, B)`: floats between A and B; `log(A, B)`: log-uniform between A and B (> 0).
Without `samples` the sweep is the grid (every combination, the last axis varying
fastest); continuous ranges then have no grid and are refused. With `samples = N` it is
a random search: N points, each axis drawn independently (lists: one of the values), by
`random.Random(seed)`; the seed is chosen when not given and recorded with the group, so
the same seed gives the same points.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass

from core.errors import UsageError
from core.spec.params import as_text

MAX_RUNS = 10_000
_FUNCTION = re.compile(r"^\s*(log|uniform|int|range)\s*\((.*)\)\s*$", re.S)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
HINT = ("axes look like lr=0.1,0.01 or lr=log(1e-4,1e-1), uniform(0,1), int(1,8), "
        "range(0,10,2)")


@dataclass(frozen=True)
class Axis:
    key: str
    spec: str                       # as the user wrote it (recorded with the group)
    values: tuple[str, ...] = ()    # discrete axes
    low: float = 0.0                # continuous axes
    high: float = 0.0
    log: bool = False

    @property
    def discrete(self) -> bool:
        return bool(self.values)

    def draw(self, rng: random.Random) -> str:
        if self.values:
            return self.values[rng.randrange(len(self.values))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return f"{value:.4g}"


@dataclass(frozen=True)
class Sweep:
    axes: tuple[Axis, ...]
    samples: int | None = None
    seed: int | None = None

    @property
    def keys(self) -> list[str]:
        return [axis.key for axis in self.axes]

    def to_dict(self) -> dict:
        return {"axes": {a.key: a.spec for a in self.axes}, "keys": self.keys,
                "samples": self.samples, "seed": self.seed,
                "mode": "random" if self.samples is not None else "grid"}


def parse_axis(text: str, where: str = "--sweep") -> Axis:
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key) or not spec.strip():
        raise UsageError(f"{where} {text!r}: expected KEY=VALUES", hint=HINT)
    return axis_from_spec(key, spec.strip(), where)


def axis_from_spec(key: str, spec: str, where: str) -> Axis:
    match = _FUNCTION.match(spec)
    if match is None:
        values = tuple(v.strip() for v in spec.split(","))
        if any(not v for v in values):
            raise UsageError(f"{where} {key}={spec}: an empty value in the list", hint=HINT)
        return Axis(key, spec, values=values)
    name, body = match.group(1), match.group(2)
    args = [number(part, key, spec, where) for part in body.split(",")]
    if name in ("log", "uniform", "int"):
        if len(args) != 2 or not args[0] < args[1]:
            raise UsageError(f"{where} {key}={spec}: {name}(A, B) needs A < B", hint=HINT)
    if name == "log":
        if args[0] <= 0:
            raise UsageError(f"{where} {key}={spec}: log(A, B) needs A > 0", hint=HINT)
        return Axis(key, spec, low=args[0], high=args[1], log=True)
    if name == "uniform":
        return Axis(key, spec, low=args[0], high=args[1])
    if not all(float(a).is_integer() for a in args):
        raise UsageError(f"{where} {key}={spec}: {name}() takes integers", hint=HINT)
    ints = [int(a) for a in args]
    if name == "int":
        numbers = range(ints[0], ints[1] + 1)
    else:
        if not 1 <= len(ints) <= 3 or (len(ints) == 3 and ints[2] == 0):
            raise UsageError(f"{where} {key}={spec}: range(START, STOP[, STEP])", hint=HINT)
        numbers = range(*ints) if len(ints) > 1 else range(ints[0])
    if not numbers or len(numbers) > MAX_RUNS:
        raise UsageError(f"{where} {key}={spec}: gives {len(numbers)} values", hint=HINT)
    return Axis(key, spec, values=tuple(str(n) for n in numbers))


def axis_from_toml(key: str, value, where: str) -> Axis:
    """An axis from a workflow file: a list of values, or a string in the --sweep syntax."""
    if isinstance(value, list) and value and all(
            isinstance(v, (str, int, float, bool)) for v in value):
        return Axis(key, ",".join(as_text(v) for v in value),
                    values=tuple(as_text(v) for v in value))
    if isinstance(value, str) and value.strip():
        return axis_from_spec(key, value.strip(), where)
    raise UsageError(f"{where}.{key}: expected a list of values or a string such as "
                     f"\"log(1e-4, 1e-1)\", got {value!r}", hint=HINT)


def split_function(spec: str) -> tuple[str, list[str]] | None:
    """`int(2, 8)` -> ("int", ["2", " 8"]); None for a list of values."""
    match = _FUNCTION.match(spec)
    return (match.group(1), match.group(2).split(",")) if match else None


def number(text: str, key: str, spec: str, where: str) -> float:
    """A bound of an axis function, finite, or a UsageError naming the axis."""
    try:
        value = float(text.strip())
    except ValueError:
        raise UsageError(f"{where} {key}={spec}: {text.strip()!r} is not a number",
                         hint=HINT) from None
    if not math.isfinite(value):
        raise UsageError(f"{where} {key}={spec}: bounds must be finite", hint=HINT)
    return value


def build(axes: list[Axis], samples: int | None, seed: int | None) -> Sweep:
    keys = [axis.key for axis in axes]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise UsageError(f"--sweep {dup}: the same param is swept twice")
    if samples is not None:
        if samples < 1 or samples > MAX_RUNS:
            raise UsageError(f"--samples {samples}: expected 1 to {MAX_RUNS}")
        if seed is None:
            seed = random.SystemRandom().randrange(1, 2**31)
    else:
        continuous = [a.key for a in axes if not a.discrete]
        if continuous:
            raise UsageError(f"--sweep {continuous[0]}: a continuous range has no grid",
                             hint="give --samples N for a random search")
        size = math.prod(len(a.values) for a in axes)
        if size > MAX_RUNS:
            raise UsageError(f"the grid has {size} points; at most {MAX_RUNS}",
                             hint="sweep fewer values, or sample with --samples N")
    return Sweep(tuple(axes), samples, seed)


def points(sweep: Sweep) -> list[dict[str, str]]:
    """The param values (as text) of every run of the sweep, in launch order."""
    if sweep.samples is None:
        return [dict(zip(sweep.keys, combo))
                for combo in itertools.product(*(a.values for a in sweep.axes))]
    rng = random.Random(sweep.seed)
    return [{axis.key: axis.draw(rng) for axis in sweep.axes} for _ in range(sweep.samples)]
