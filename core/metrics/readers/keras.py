"""Keras (3, and 2 / tf.keras) `fit` and `evaluate` output.

`Epoch 3/10` sets the step: the epoch as printed, from 1. The bar lines that follow,
`6/6 ━━━━━━━━━━━━━━━━━━━━ 0s 31ms/step - accuracy: 0.4635 - loss: 0.7143 - val_loss: 0.6950`
(or `6/6 - 0s - 462us/step - ...` with verbose=2, `32/32 [======] - 1s 3ms/step - ...` in
Keras 2), give `accuracy`, `loss`, `val_loss` at that epoch: each redraw replaces the one
before, so the epoch keeps the values Keras reports for it. The count and the timing
(`0s`, `31ms/step`) are not metrics. A bar after an epoch's line has ended, with no new
`Epoch` line, is `evaluate` (or `predict`): its values are named `evaluate/loss`....
"""

from __future__ import annotations

import re

from core.metrics.numbers import NUMBER
from core.metrics.reading import NOTHING, Reading

_HEADER = re.compile(r"Epoch (\d+)/\d+$")
_ITEM = re.compile(r" - ([A-Za-z_][\w./]*): (" + NUMBER + r")(?= |$)")


class Keras:
    name = "keras"
    starts = r"Epoch \d+/\d+$|(?:\d+|Unknown)/(?:\d+|Unknown) (?:[━=\[.>]|- )"

    def read(self, text: str, segment, state: dict) -> Reading | None:
        header = _HEADER.match(text)
        if header is not None:
            state["epoch_open"] = True
            return Reading(step=header.group(1), holds=True)
        values = dict(_ITEM.findall(text))
        in_epoch = state.get("epoch_open", False)
        if segment.ends_line:
            state["epoch_open"] = False
        if not values:
            return NOTHING
        if not in_epoch:
            values = {f"evaluate/{key}": value for key, value in values.items()}
        return Reading(values)
