"""The built-in line readers, in the order they are tried (see core.metrics.parser).

Each reader has a `name` (what `[metrics] disable` names), `starts`: a regex matched at
the start of a line's text that hands the line to it (None for the two that look anywhere:
progress bars, and `key=value` pairs as the fallback), and `read(text, segment, state)`,
which returns None for a line that is not its own, or a core.metrics.reading.Reading.
`state` is the reader's own dict, kept with the run's ingest position.
"""

from __future__ import annotations

from core.metrics.readers.dicts import Dicts
from core.metrics.readers.keras import Keras
from core.metrics.readers.keyvalue import KeyValue
from core.metrics.readers.lightgbm import LightGBM
from core.metrics.readers.lightning import Lightning
from core.metrics.readers.progress import Progress, looks_like_bar
from core.metrics.readers.sklearn import Sklearn
from core.metrics.readers.xgboost import XGBoost

# Readers found by how a line starts, in the order they are tried.
BY_START = (LightGBM(), XGBoost(), Lightning(), Keras(), Sklearn(), Dicts())
PROGRESS = Progress()
KEY_VALUE = KeyValue()
NAMES = tuple(r.name for r in (*BY_START, PROGRESS, KEY_VALUE))

__all__ = ["BY_START", "KEY_VALUE", "NAMES", "PROGRESS", "looks_like_bar"]
