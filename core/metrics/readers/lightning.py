"""PyTorch Lightning's own log lines, which hold no metric but look as if they did.

`GPU available: False, used: False`, `TPU available: False, using: 0 TPU cores`,
`` `Trainer.fit` stopped: `max_epochs=3` reached. ``, the model summary table
(`  | Name  | Type   | Params | Mode`, `0 | layer | Linear | 66  | train`,
`66        Trainable params`, `0.000     Total estimated model params size (MB)`) and
`Seed set to 42` are claimed and give nothing. Its progress bars are read by
core.metrics.readers.progress (without `v_num`).
"""

from __future__ import annotations

from core.metrics.reading import NOTHING


class Lightning:
    name = "lightning"
    starts = (r"(?:GPU|TPU|HPU|IPU) available: |LOCAL_RANK: |`Trainer\.(?:fit|validate|test"
              r"|predict)` stopped: |Trainer already configured with |Seed set to \d+$"
              r"|\| Name +\| |\d+ +\| |-{5,}$|[\d.]+ *[KMGT]? +(?:Trainable|Non-trainable"
              r"|Total) params$|[\d.]+ +Total estimated model params size|\d+ +Modules in "
              r"(?:train|eval) mode$|Missing logger folder: |Using \d+bit ")

    def read(self, text: str, segment, state: dict):
        return NOTHING
