"""Numbers as runs print them, and the limits a value or a step must fit in to be stored.

A value is a double (NaN and infinity included, when printed as such); a number that only
overflows into infinity (`1e999`) does not fit. A step is a whole number that fits a
signed 64-bit integer (SQLite's INTEGER): `step=1e30` or `step=2.5` does not fit.
"""

from __future__ import annotations

import math

# A number as print(), f-strings, numpy and the libraries write it.
NUMBER = (r"[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?"
          r"|nan|NaN|NAN|inf|Inf|INF|Infinity)")
STEP_MIN, STEP_MAX = -2 ** 63, 2 ** 63 - 1
_INFINITIES = (math.inf, -math.inf)


class DoesNotFit(ValueError):
    """A value or step that cannot be stored; its message says which and why."""


def value_of(raw) -> float:
    """The double a printed number (text, int or float) stands for; raises DoesNotFit."""
    if isinstance(raw, float):
        return raw
    if isinstance(raw, int):
        try:
            return float(raw)
        except OverflowError:
            raise DoesNotFit(f"the value {_short(raw)} does not fit a double") from None
    value = float(raw)
    if value in _INFINITIES and "n" not in raw.lower():        # 1e999, not "inf"
        raise DoesNotFit(f"the value {_short(raw)} does not fit a double")
    return value


def step_of(raw) -> int:
    """The whole-number step a printed number stands for; raises DoesNotFit."""
    if raw.__class__ is str and raw.isdigit() and len(raw) < 19:
        return int(raw)                                    # the common case
    if isinstance(raw, int) and not isinstance(raw, bool):
        step = raw
    else:
        if isinstance(raw, str) and raw.lstrip("+-").isdigit():
            step = int(raw)
        else:
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise DoesNotFit(f"the step {_short(raw)} is not a number") from None
            if value in _INFINITIES and "n" not in str(raw).lower():
                raise DoesNotFit(f"the step {_short(raw)} does not fit a 64-bit integer")
            if not math.isfinite(value) or value != int(value):
                raise DoesNotFit(f"the step {_short(raw)} is not a whole number")
            step = int(value)
    if not STEP_MIN <= step <= STEP_MAX:
        raise DoesNotFit(f"the step {_short(raw)} does not fit a 64-bit integer")
    return step


def _short(raw) -> str:
    text = str(raw) if not isinstance(raw, int) or raw.bit_length() < 4000 else "a huge integer"
    return text if len(text) <= 40 else text[:37] + "..."
