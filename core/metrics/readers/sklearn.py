"""scikit-learn's verbose output: MLP, SGD, gradient boosting (plain and histogram-based).

- MLP: `Iteration 3, loss = 0.69123` gives `loss` at step 3; `Validation score: 0.8` (early
  stopping) gives `validation_score` at the same iteration.
- SGD: `-- Epoch 3` sets the step; `Norm: 6.49, NNZs: 20, Bias: -0.37, T: 750, Avg. loss:
  0.61, Objective: 0.63` gives `norm`, `nnzs`, `bias`, `avg_loss`, `objective` (T, the
  samples seen so far, is a count, not a metric).
- GradientBoosting: the table under `Iter  Train Loss  [OOB Improve]  Remaining Time` gives
  `train_loss` (and `oob_improve`) at the printed iteration.
- HistGradientBoosting (verbose=2): `[3/10] 1 tree, 7 leaves, max depth = 4, train loss:
  0.49, val loss: 0.51, in 0.001s` gives `train_loss`, `val_loss` (or `train_score`,
  `val_score`) at step 3.
Timing lines (`Total training time`, `Convergence after`, `Fit 5 trees in`, `Binning`,
`Time spent`) and early-stopping notices (`... did not improve more than tol=...`) are
claimed and give nothing.
"""

from __future__ import annotations

import re

from core.metrics.numbers import NUMBER
from core.metrics.reading import NOTHING, Reading

_N = "(" + NUMBER + ")"
_ITERATION = re.compile(r"Iteration (\d+), loss = " + _N + "$")
_VALIDATION = re.compile(r"Validation score: " + _N + "$")
_SGD_EPOCH = re.compile(r"-- Epoch (\d+)$")
_SGD_ITEM = re.compile(r"(Norm|NNZs|Bias|Avg\. loss|Objective): " + _N + r"(?=,|$)")
_GB_HEADER = re.compile(r"Iter\s+Train Loss\s+(OOB Improve\s+)?Remaining Time$")
_GB_ROW = re.compile(r"(\d+)\s+" + _N + r"(?:\s+" + _N + r")?\s+[\d.]+[smh]$")
_HIST_ROUND = re.compile(r"\[(\d+)/\d+\] \d+ trees?, \d+ leaves, max depth = \d+, "
                         r"(?:train (loss|score): " + _N + r", val (?:loss|score): " + _N
                         + ", )?in ")
_NAMES = {"Norm": "norm", "NNZs": "nnzs", "Bias": "bias", "Avg. loss": "avg_loss",
          "Objective": "objective"}


class Sklearn:
    name = "sklearn"
    starts = (r"Iteration \d+, loss = |Validation score: |-- Epoch \d+$|Norm: .*Avg\. loss: "
              r"|Total training time: |Convergence after \d+ epochs|Iter\s+Train Loss"
              r"|\d+\s{2,}[-+\d.]|\[\d+/\d+\] \d+ trees?, |Binning \d|Fit \d+ trees? in "
              r"|Fitting gradient boosted rounds|Time spent |(?:Training loss|Validation "
              r"score) did not improve")

    def read(self, text: str, segment, state: dict) -> Reading | None:
        first = text[0]
        if first == "I" and (found := _ITERATION.match(text)):
            state["iteration"] = found.group(1)
            return Reading({"loss": found.group(2)}, step=found.group(1))
        if first == "V" and (found := _VALIDATION.match(text)):
            return Reading({"validation_score": found.group(1)}, step=state.get("iteration"))
        if first == "-" and (found := _SGD_EPOCH.match(text)):
            return Reading(step=found.group(1), holds=True)
        if first == "N":
            return Reading({_NAMES[k]: v for k, v in _SGD_ITEM.findall(text)})
        if first.isdigit():
            found = _GB_ROW.match(text)
            columns = state.get("table")
            if found is None or columns is None:
                return None
            values = {"train_loss": found.group(2)}
            if columns == "oob" and found.group(3) is not None:
                values["oob_improve"] = found.group(3)
            return Reading(values, step=found.group(1))
        if first == "I" and (found := _GB_HEADER.match(text)):
            state["table"] = "oob" if found.group(1) else "loss"
            return NOTHING
        if first == "[" and (found := _HIST_ROUND.match(text)):
            if found.group(2) is None:
                return NOTHING
            kind = found.group(2)
            return Reading({f"train_{kind}": found.group(3), f"val_{kind}": found.group(4)},
                           step=found.group(1))
        return NOTHING
