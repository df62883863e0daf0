"""Regular expressions that users type, compiled with `regex` and matched with a time limit.

A pattern from a user (`[metrics] patterns`, `--retry-on`) can backtrack for hours on one
hostile line (`(a|aa)+c` against a run of `a`s). The standard `re` module cannot be stopped
and holds the GIL while it matches, freezing the engine; the `regex` package takes a
timeout and releases the GIL, so a bad pattern costs at most its limit. Its syntax is the
same as `re`'s for every pattern `re` accepts (version 0), plus a few additions.
"""

from __future__ import annotations

import regex

Pattern = regex.Pattern


class PatternTimeout(Exception):
    """A user pattern ran past its time limit on one text."""


def compile_pattern(text: str, flags: int = 0) -> Pattern:
    """The compiled pattern; raises ValueError with regex's own explanation."""
    try:
        return regex.compile(text, flags)
    except (regex.error, TypeError, OverflowError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def search(pattern: Pattern, text: str, timeout: float):
    """`pattern.search(text)` that gives up after `timeout` seconds (PatternTimeout)."""
    try:
        return pattern.search(text, timeout=timeout)
    except TimeoutError:
        raise PatternTimeout(pattern.pattern) from None


def finditer(pattern: Pattern, text: str, timeout: float) -> list:
    """Every match of `pattern` in `text`, all found within `timeout` seconds together."""
    try:
        return list(pattern.finditer(text, timeout=timeout))
    except TimeoutError:
        raise PatternTimeout(pattern.pattern) from None


MULTILINE = regex.MULTILINE
