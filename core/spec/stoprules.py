"""Stop rules: `--stop-if` expressions checked against a run's metrics as they arrive.

Forms (KEY is a metric name, as `tui metrics` lists them):
- `KEY is nan`, `KEY is inf`, `KEY is not finite` (NaN or infinite);
- `KEY > X`, `>=`, `<`, `<=`, `==`, `!=` (a NaN value never compares true);
- `KEY plateau N [min|max]`: N reports in a row without beating the best value so far.
  Lower is better for names with loss, err, mse, mae or perplexity in them, higher for
  the others; `min` or `max` says it explicitly.
A rule is checked on each new point of its metric, in the engine's metric ingest, while
the run runs; the first rule that fires stops the run (state `stopped`, the rule in its
reason), like a cancel: SIGTERM, grace period, SIGKILL.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from core.errors import UsageError

_KEY = r"([A-Za-z_][\w./\-]*?)"
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf)"
_IS = re.compile(rf"^\s*{_KEY}\s+is\s+(nan|inf|not\s+finite)\s*$", re.I)
_COMPARE = re.compile(rf"^\s*{_KEY}\s*(>=|<=|==|!=|>|<)\s*{_NUMBER}\s*$")
_PLATEAU = re.compile(rf"^\s*{_KEY}\s+plateau\s+(\d+)(?:\s+(min|max))?\s*$", re.I)
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}
_LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "perplexity", "ppl", "wer", "cer")
HINT = "rules look like: 'loss is nan', 'val_loss > 10', 'val_acc plateau 5'"


@dataclass(frozen=True)
class Rule:
    text: str
    key: str
    kind: str                 # "is", "compare" or "plateau"
    what: str = ""            # is: nan/inf/not finite; compare: the operator
    limit: float = 0.0
    patience: int = 0
    minimize: bool = True


def parse(text: str) -> Rule:
    if m := _IS.match(text):
        return Rule(text.strip(), m.group(1), "is", " ".join(m.group(2).lower().split()))
    if m := _COMPARE.match(text):
        return Rule(text.strip(), m.group(1), "compare", m.group(2), limit=float(m.group(3)))
    if m := _PLATEAU.match(text):
        patience = int(m.group(2))
        if patience < 1:
            raise UsageError(f"--stop-if {text!r}: plateau needs at least 1 report", hint=HINT)
        direction = (m.group(3) or "").lower()
        minimize = direction == "min" if direction else lower_is_better(m.group(1))
        return Rule(text.strip(), m.group(1), "plateau", patience=patience, minimize=minimize)
    raise UsageError(f"--stop-if {text!r}: not a rule", hint=HINT)


def parse_all(texts: list[str]) -> list[Rule]:
    return [parse(text) for text in texts]


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of this metric is better, by its name (`val_loss`: yes;
    `val_acc`: no). The app and `tui compare` rank runs by the same rule."""
    name = key.lower().rsplit("/", 1)[-1]
    return any(word in name for word in _LOWER_IS_BETTER)


class Checker:
    """The rules of one run and what they have seen; `feed` returns why a rule fired."""

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self.keys = {rule.key for rule in rules}
        self._best: dict[str, tuple[float, int]] = {}      # plateau rule text -> (best, step)
        self._since: dict[str, int] = {}

    def feed(self, rows) -> str | None:
        """Check new points (key, step, value-or-None-for-NaN) in order; the first firing."""
        for key, step, value in rows:
            if key not in self.keys:
                continue
            number = math.nan if value is None else value
            for rule in self.rules:
                if rule.key == key and (why := self._check(rule, step, number)):
                    return why
        return None

    def _check(self, rule: Rule, step: int, value: float) -> str | None:
        shown = f"{rule.key}={_show(value)} at step {step}"
        if rule.kind == "is":
            hit = (math.isnan(value) if rule.what == "nan" else
                   math.isinf(value) if rule.what == "inf" else not math.isfinite(value))
            return f"{rule.text} ({shown})" if hit else None
        if rule.kind == "compare":
            return f"{rule.text} ({shown})" if _OPS[rule.what](value, rule.limit) else None
        best = self._best.get(rule.text)
        better = best is None or (value < best[0] if rule.minimize else value > best[0])
        if better and not math.isnan(value):
            self._best[rule.text] = (value, step)
            self._since[rule.text] = 0
            return None
        self._since[rule.text] = self._since.get(rule.text, 0) + 1
        if self._since[rule.text] >= rule.patience:
            if best is None:
                return f"{rule.text} (no valid value in {rule.patience} reports)"
            return (f"{rule.text} (no improvement in {rule.patience} reports; best "
                    f"{rule.key}={_show(best[0])} at step {best[1]})")
        return None


def _show(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.6g}"
