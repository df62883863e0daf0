"""From a run's output text to metric points `(name, step, value)`, one call at a time.

Text arrives in complete pieces (core.engine.ingest cuts it after a newline or a carriage
return). A line redrawn with carriage returns (a progress bar) is read once per redraw;
a redraw identical to the one before adds nothing. Each piece of text goes to the first
built-in reader whose start it matches (core.metrics.readers), else to the progress-bar
reader when it looks like a bar, else to the `key=value` reader; the user's patterns run
on every line as well.

Steps: a step printed on a line (`[10]`, `Iteration 3`, `step=5`) is the step of its
values; `step=`, `Step 100:`, `Epoch 3/10` and `-- Epoch 3` hold for later lines too.
Values with no step of their own take the step in force, or before any, count their own
steps from 0. A progress bar's values take a redraw counter instead: each redraw that
changes a value is the next step, and only the values that changed are points.

Nothing a run prints can stop this: a value or step that does not fit (`step=1e30`,
`loss=1e999`) is skipped, a name that is too long or holds control characters is
skipped, past MAX_NAMES distinct names new ones are skipped, and a user pattern that
runs past its time limit is switched off. Each kind is reported once per run
(`warnings`).
"""

from __future__ import annotations

import math
import re

from core import userregex
from core.metrics import readers as builtin
from core.metrics.numbers import DoesNotFit, step_of, value_of
from core.metrics.patterns import TIMEOUT as PATTERN_TIMEOUT, UserPattern
from core.metrics.reading import AFTER_BAR, BAR, Reading, Segment
from core.metrics.readers.keyvalue import LEADING_STEP, PAIR, STEP_KEYS
from core.metrics.rules import MetricRules

MAX_SEGMENT = 1024 * 1024        # longer lines are skipped for metrics (the log keeps them)
LONG_SEGMENT = 16 * 1024         # longer lines go to the key=value reader only (no library
                                 # prints such lines; the others' regexes are not linear)
MAX_NAMES = 2000                 # distinct metric names per run
MAX_NAME_LENGTH = 200
MAX_BARS = 32                    # progress bars whose last values are remembered
OWN_NOTE = "runyard: "           # runyard's own lines in a log (core/runwrap.sh, the
                                 # engine's Runner.note_in_log): never metrics
STATE_VERSION = 2
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|[P^_X][^\x1b]*(?:\x1b\\)?|[@-Z\\-_])")
_INFINITIES = (math.inf, -math.inf)
_ENDS_LINE, _REDRAWN = Segment(True), Segment(False)
PAIR_FINDALL = PAIR.findall

Point = tuple        # (name, step, value); value None stands for NaN


class OutputParser:
    """Reads one stream (a run's output, or its metrics file with `json_only`)."""

    def __init__(self, rules: MetricRules = MetricRules(), state: dict | None = None,
                 json_only: bool = False):
        state = state or {}
        self.rules = rules
        self.step: int | None = state.get("step")
        self.counters: dict[str, int] = dict(state.get("counters", {}))
        self.redraws: int = state.get("redraws", 0)
        self.bars: dict[str, dict] = dict(state.get("bars", {}))
        self.pending: dict | None = state.get("pending")        # a Trainer log awaiting its bar
        self.bar_seen: bool = state.get("bar_seen", False)
        self.after_step: int = state.get("after_step", -1)
        self.reader_state: dict[str, dict] = dict(state.get("readers", {}))
        self.last_text: str | None = state.get("last")
        self.warned: set[str] = set(state.get("warned", []))
        self.known: set[str] = set(state.get("names", []))
        self.refused: set[str] = set()
        self.patterns_off: set[int] = set(state.get("patterns_off", []))
        self.warnings: list[str] = []
        self.ignored = rules.ignored_names()
        disabled = set(rules.disable)
        if json_only:
            disabled = set(builtin.NAMES) - {"dict"}
        self.by_start = [r for r in builtin.BY_START if r.name not in disabled]
        self.dispatch = re.compile("|".join(f"(?P<r{i}>{r.starts})"
                                            for i, r in enumerate(self.by_start))).match \
            if self.by_start else None
        self.progress = builtin.PROGRESS if builtin.PROGRESS.name not in disabled else None
        self.key_value = builtin.KEY_VALUE if builtin.KEY_VALUE.name not in disabled else None
        self.patterns = [] if json_only else [UserPattern(p) for p in rules.patterns]

    # ------------------------------------------------------------ state

    def snapshot(self) -> dict:
        """Everything needed to go on where this parser stopped (JSON-safe)."""
        return {"v": STATE_VERSION, "step": self.step, "counters": self.counters,
                "redraws": self.redraws, "bars": self.bars, "pending": self.pending,
                "bar_seen": self.bar_seen, "after_step": self.after_step,
                "readers": self.reader_state, "last": self.last_text,
                "warned": sorted(self.warned), "names": sorted(self.known),
                "patterns_off": sorted(self.patterns_off)}

    def take_warnings(self) -> list[str]:
        warnings, self.warnings = self.warnings, []
        return warnings

    # ------------------------------------------------------------ reading

    def feed(self, text: str) -> list[Point]:
        """The points in `text`: complete lines, or redraws ended by a carriage return."""
        points: list[Point] = []
        lines = text.split("\n")
        tail = lines.pop()                   # after the last newline: redraws ended by \r
        segment = self._segment
        if "\r" in text or "\x1b" in text or "\b" in text:
            for line in lines:
                if "\r" in line or "\x1b" in line or "\b" in line:
                    self._redrawn_line(line, True, points)
                elif line:
                    segment(line, _ENDS_LINE, points, False)
                self.last_text = None
            if tail:
                self._redrawn_line(tail, False, points)
        else:                                # plain lines: the common case, made fast
            for line in lines:
                if line:
                    segment(line, _ENDS_LINE, points, False)
            if lines:
                self.last_text = None
        return points

    def finish(self) -> list[Point]:
        """The end of the stream: a Trainer log still waiting for its bar is read as is."""
        points: list[Point] = []
        if self.pending is not None:
            self._emit(Reading(self.pending), points)
            self.pending = None
        return points

    def _redrawn_line(self, line: str, ends: bool, points: list) -> None:
        segments = line.split("\r")
        while segments and not segments[-1].strip("\b "):
            segments.pop()                       # `\r\n`, or the empty piece after the last \r
        last = len(segments) - 1
        for index, raw in enumerate(segments):
            if "\x1b" in raw:
                raw = _ESCAPES.sub("", raw)
            if "\b" in raw:
                raw = _backspaced(raw)
            if raw:
                self._segment(raw, _ENDS_LINE if ends and index == last else _REDRAWN, points,
                              True)

    def _segment(self, raw: str, segment: Segment, points: list, redrawn: bool) -> None:
        """One line, or one redraw of a line (`redrawn`: the same as the redraw before it
        adds nothing)."""
        if len(raw) > MAX_SEGMENT:
            self._warn("long", f"a line longer than {MAX_SEGMENT // 1024 // 1024} MB was "
                               "skipped for metrics (the log keeps it)")
            return
        text = raw.strip()
        if not text or text.startswith(OWN_NOTE):
            return
        if redrawn:
            if text == self.last_text:
                return
            self.last_text = text
        reading = None
        short = len(text) <= LONG_SEGMENT
        if short and self.dispatch is not None and (match := self.dispatch(text)) is not None \
                and match.lastgroup is not None:          # the group names the reader
            reader = self.by_start[int(match.lastgroup[1:])]
            reading = reader.read(text, segment, self.reader_state.setdefault(reader.name, {}))
        if reading is None and short and self.progress is not None and "[" in text and \
                ("|" in text or "it [" in text):                  # readers.looks_like_bar
            reading = self.progress.read(text, segment, {})
        if reading is None and self.key_value is not None:
            if self.pending is None and not self.patterns and (pairs := PAIR_FINDALL(text)) \
                    and (text[0] not in "sSiIeE" or not LEADING_STEP(text)):
                self._emit_pairs(pairs, points)          # the common case, made fast
                return
            reading = self.key_value.read(text, segment, {})
        if self.pending is not None:
            self._after_trainer_log(reading, points)
        extra = self._patterns(text) if self.patterns else ()
        for held in extra:
            if held.holds:
                self._emit(Reading(step=held.step, holds=True), points)
        if reading is not None:
            if reading.mode == BAR:
                self.bar_seen = True
            if reading.mode == AFTER_BAR and self.bar_seen:
                self.pending = dict(reading.values)
            elif reading.values or reading.holds:
                self._emit(reading, points)
        for read in extra:
            self._emit(Reading(read.values), points)

    def _after_trainer_log(self, reading: Reading | None, points: list) -> None:
        """The segment after a Trainer log: when it is a bar, its count is the log's step."""
        pending, self.pending = self.pending or {}, None
        count = reading.count if reading is not None and reading.mode == BAR else None
        if count is not None and count >= self.after_step:
            self.after_step = count
            self._emit(Reading(pending, step=count), points)
        else:
            self._emit(Reading(pending), points)

    def _patterns(self, text: str) -> list[Reading]:
        found = []
        for index, pattern in enumerate(self.patterns):
            if index in self.patterns_off:
                continue
            try:
                reading = pattern.read(text)
            except userregex.PatternTimeout:
                self.patterns_off.add(index)
                self._warn(f"pattern {index}",
                           f"[metrics] pattern {pattern.text!r} took longer than "
                           f"{PATTERN_TIMEOUT} s on one line and was switched off for this "
                           "run; fix it, then `tui metrics ID --reparse`")
                continue
            if reading is not None:
                found.append(reading)
        return found

    # ------------------------------------------------------------ points

    def _emit(self, reading: Reading, points: list) -> None:
        step = reading.step
        if step is not None:
            try:
                step = step_of(step)
            except DoesNotFit as exc:
                self._warn("step", f"{exc}: the values on its line were skipped")
                return
            if reading.holds:
                self.step = step
        values = reading.values
        if reading.mode == BAR:
            values = self._changed(reading)
            if not values:
                return
            if step is None:
                step = self.redraws
                self.redraws += 1
        known, counters, fixed = self.known, self.counters, step
        for name, raw in values.items():
            if name not in known and not self._accept(name):
                continue
            if raw.__class__ is str:
                try:
                    value = float(raw)
                except ValueError:
                    continue                      # a pattern's group that is not a number
                if value in _INFINITIES and "n" not in raw.lower():
                    self._warn("value", f"the value {raw[:40]} of {name} does not fit a "
                                        "double and was skipped")
                    continue
            else:
                try:
                    value = value_of(raw)
                except DoesNotFit as exc:
                    self._warn("value", f"{exc} ({name}) and was skipped")
                    continue
            if fixed is not None:
                at = fixed
            elif self.step is not None:
                at = self.step
            else:
                at = counters.get(name, 0)
                counters[name] = at + 1
            points.append((name, at, None if value != value else value))

    def _emit_pairs(self, pairs: list, points: list) -> None:
        """`_emit` for a plain `key=value` line: the same rules, without a Reading."""
        at = self.step
        for name, raw in pairs:
            if name in STEP_KEYS:
                try:
                    at = self.step = step_of(raw)
                except DoesNotFit as exc:
                    self._warn("step", f"{exc}: the values on its line were skipped")
                    return
        known, counters = self.known, self.counters
        for name, raw in pairs:
            if name in STEP_KEYS or (name not in known and not self._accept(name)):
                continue
            value = float(raw)
            if value in _INFINITIES and "n" not in raw.lower():
                self._warn("value", f"the value {raw[:40]} of {name} does not fit a double "
                                    "and was skipped")
                continue
            if at is None:
                step = counters.get(name, 0)
                counters[name] = step + 1
            else:
                step = at
            points.append((name, step, None if value != value else value))

    def _changed(self, reading: Reading) -> dict:
        """The values of a bar's redraw that differ from its previous redraw."""
        before = self.bars.pop(reading.bar, None) or {}
        self.bars[reading.bar] = reading.values
        if len(self.bars) > MAX_BARS:
            del self.bars[next(iter(self.bars))]
        return {k: v for k, v in reading.values.items() if before.get(k) != v}

    def _accept(self, name: str) -> bool:
        """Whether a name not seen before may be stored (and remember it when so)."""
        if name in self.refused:
            return False
        if self.ignored is not None and self.ignored(name):
            self.refused.add(name)
            return False
        if len(name) > MAX_NAME_LENGTH or not name.isprintable() or not name.strip():
            self.refused.add(name)
            self._warn("name", f"a metric name that is empty, longer than {MAX_NAME_LENGTH} "
                               "characters or holds control characters was skipped")
            return False
        if len(self.known) >= MAX_NAMES:
            self.refused.add(name)
            self._warn("names", f"the run printed more than {MAX_NAMES} distinct metric "
                                "names; later new names were skipped")
            return False
        self.known.add(name)
        return True

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self.warned:
            self.warned.add(kind)
            self.warnings.append(message)


def _backspaced(text: str) -> str:
    """Backspaces as a terminal plays them: the cursor moves back, later text overwrites."""
    stripped = text.rstrip("\b")
    if "\b" not in stripped:
        return stripped                         # Keras: a redraw, then backspaces to its start
    out: list[str] = []
    position = 0
    for char in stripped:
        if char == "\b":
            position = max(0, position - 1)
        elif position < len(out):
            out[position] = char
            position += 1
        else:
            out.append(char)
            position += 1
    return "".join(out)
