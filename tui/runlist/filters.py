"""The run list's filter language: words that must all match (`/` in the app).

    running                 a state: queued, running, succeeded, failed, cancelled, lost,
                            or `active` (queued or running), `ended` (any final state)
    state:failed            the same, spelled out
    tag:baseline            runs with that tag
    target:box1             runs on that target
    parent:7                runs cloned from run 7
    group:12  group:lr-sweep  the runs of a sweep, chain or watch, by id or name (a
                            chain's runs include those of its sweeps); a sweep's name
                            alone also finds its runs, as text
    lr<0.01  epochs>=10     a param (or else a metric) compared with a value:
    opt=adam  lr!=0.1       <, <=, >, >=, = (or ==), !=
    anything else           text found in the id, name, command or tags (any case)
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Callable

from core.models import ACTIVE_STATES, TERMINAL_STATES, RunState
from core.spec.params import typed
from tui.runlist.rows import RunRow

_COMPARE = re.compile(r"^([A-Za-z_][\w./\-]*)\s*(<=|>=|!=|==|<|>|=)\s*(.+)$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "=": operator.eq, "==": operator.eq, "!=": operator.ne}
_STATE_WORDS = {s.value: frozenset({s}) for s in RunState}
_STATE_WORDS.update(active=ACTIVE_STATES, ended=TERMINAL_STATES)


@dataclass(frozen=True)
class RunFilter:
    text: str
    tests: tuple[Callable[[RunRow], bool], ...]

    def __call__(self, row: RunRow) -> bool:
        return all(test(row) for test in self.tests)

    @property
    def empty(self) -> bool:
        return not self.tests


def parse(text: str, groups: dict[int, dict] | None = None) -> RunFilter:
    """A filter from what the user typed; never fails (odd words are searched as text).
    `groups` ({id: {"name", "parent", ...}}, as core.store.queries.groups_json gives)
    lets `group:NAME` and a sweep's name find its runs."""
    groups = groups or {}
    return RunFilter(text=text.strip(), tests=tuple(_term(word, groups) for word in text.split()))


def _term(word: str, groups: dict[int, dict]) -> Callable[[RunRow], bool]:
    lowered = word.lower()
    if lowered in _STATE_WORDS:
        return _state(_STATE_WORDS[lowered])
    prefix, sep, rest = word.partition(":")
    if sep and rest:
        field = prefix.lower()
        if field in ("state", "s") and rest.lower() in _STATE_WORDS:
            return _state(_STATE_WORDS[rest.lower()])
        if field == "tag":
            return lambda row: rest in row.tags
        if field in ("target", "t"):
            return lambda row: row.target == rest
        if field == "parent" and rest.isdigit():
            return lambda row: row.parent == int(rest)
        if field in ("group", "g"):
            return _in_groups(_groups_named(rest, groups))
    if m := _COMPARE.match(word):
        return _comparison(m.group(1), _OPS[m.group(2)], typed(m.group(3)))
    return _text(lowered, {gid for gid, g in groups.items()
                           if lowered in str(g.get("name") or "").lower()})


def _groups_named(text: str, groups: dict[int, dict]) -> frozenset:
    """The groups a `group:` word names (by id or name), with the sweeps inside a chain."""
    if text.isdigit():
        found = {int(text)}
    else:
        found = {gid for gid, g in groups.items() if g.get("name") == text}
    found |= {gid for gid, g in groups.items() if g.get("parent") in found}
    return frozenset(found)


def _in_groups(ids: frozenset) -> Callable[[RunRow], bool]:
    return lambda row: row.group in ids


def _state(states: frozenset) -> Callable[[RunRow], bool]:
    return lambda row: row.state in states


def _comparison(key: str, op, wanted) -> Callable[[RunRow], bool]:
    def test(row: RunRow) -> bool:
        value = row.params.get(key, row.metrics.get(key))
        if value is None:
            return op is operator.ne              # a run without the param differs from any value
        try:
            return bool(op(value, wanted))
        except TypeError:                        # a number compared with a string
            return bool(op(str(value), str(wanted)))
    return test


def _text(needle: str, named_groups: set) -> Callable[[RunRow], bool]:
    def test(row: RunRow) -> bool:
        return (needle in str(row.id) or needle in row.name.lower()
                or needle in row.template_json.lower()
                or any(needle in tag.lower() for tag in row.tags)
                or (row.group is not None and row.group in named_groups))
    return test
