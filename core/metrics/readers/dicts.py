"""Lines that are a JSON object or a printed Python dict (the Hugging Face Trainer's logs).

`{"loss": 0.3, "step": 10}`; `{'loss': 0.6931, 'grad_norm': np.float64(1.23),
'learning_rate': 5e-05, 'epoch': 0.1}`. Numbers (also `nan`, `inf`, numpy and torch scalars
such as `np.float64(0.5)` or `tensor(0.5)`) are metrics; strings, booleans and lists are
not. Nested objects give `outer/inner` names. `step` or `global_step` sets the step of the
line and of later lines. A Trainer log (a Python dict with an `epoch` and no step) takes
the optimizer step from the progress bar the Trainer redraws right after printing it
(`tqdm.write`), when there is one.
"""

from __future__ import annotations

import json
import re

from core.metrics.numbers import NUMBER
from core.metrics.reading import AFTER_BAR, Reading
from core.metrics.readers.keyvalue import STEP_KEYS

MAX_DEPTH = 3
_SCALAR = (r"(?:(?:np|numpy|torch)\.)?(?:float|int|uint|bfloat)(?:8|16|32|64|128)?\(\s*("
           + NUMBER + r")\s*\)|tensor\(\s*(" + NUMBER + r")[^)]*\)|(" + NUMBER + r")")
_PY_ITEM = re.compile(r"""(?:^|[{,]\s*)(['"])((?:(?!\1).){1,200}?)\1\s*:\s*(?:""" + _SCALAR
                      + r""")\s*(?=[,}])""")


class Dicts:
    name = "dict"
    starts = r"\{"

    def read(self, text: str, segment, state: dict) -> Reading | None:
        if not text.endswith("}"):
            return None
        values = _json_values(text)
        trainer_log = False
        if values is None:
            values = {}
            for match in _PY_ITEM.finditer(text):
                values[match.group(2)] = match.group(3) or match.group(4) or match.group(5)
            trainer_log = "epoch" in values
        step = None
        for key in STEP_KEYS:
            if key in values:
                step = values.pop(key)
        if step is None and trainer_log:
            return Reading(values, mode=AFTER_BAR)
        return Reading(values, step=step, holds=step is not None)


def _json_values(text: str) -> dict | None:
    """The numbers of a JSON object, flattened; None when the text is not JSON."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    values: dict = {}
    _flatten(data, "", values, 0)
    return values


def _flatten(data: dict, prefix: str, out: dict, depth: int) -> None:
    for key, value in data.items():
        name = prefix + str(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[name] = value
        elif isinstance(value, dict) and depth + 1 < MAX_DEPTH:
            _flatten(value, name + "/", out, depth + 1)

