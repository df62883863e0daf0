"""The app's view, saved per project and store: sort, filter, columns, folds, grouping, the
chart's metric, the lower pane and the selected run, restored when the app starts again.

Kept in `$XDG_STATE_HOME/runyard/views/` (default ~/.local/state), one small JSON file per
project folder and store. A file that cannot be read is reported and the defaults are
used; `tui --reset-view` (or "reset the view" in the palette) starts from the defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

VERSION = 1


@dataclass
class ViewState:
    sort: str = "id"
    reverse: bool = True
    filter: str = ""
    columns: list[str] | None = None      # None: the defaults (varying params, shared metrics)
    folded: list = field(default_factory=list)       # group keys, as lists
    grouping: str = "sweep"
    chart_metric: str | None = None
    pane: str = "log"                     # the lower pane: log or chart
    selected: int | None = None           # the run the cursor was on when the app closed


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                     ".local", "state")
    return Path(base) / "runyard" / "views"


def path_for(project_root: str | os.PathLike, store: str | os.PathLike,
             env: dict[str, str] | None = None) -> Path:
    key = hashlib.sha256(f"{Path(project_root).resolve()}\0{Path(store).resolve()}".encode())
    return state_dir(env) / f"{key.hexdigest()[:20]}.json"


def load(path: Path) -> tuple[ViewState, str | None]:
    """The saved view, or the defaults and why (None when there was simply none yet)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return ViewState(), None
    except (OSError, ValueError) as exc:
        return ViewState(), f"the saved view {path} could not be read ({exc}); using defaults"
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return ViewState(), None
    defaults = asdict(ViewState())
    try:
        state = ViewState(**{k: data[k] for k in defaults if k in data})
    except TypeError as exc:
        return ViewState(), f"the saved view {path} is damaged ({exc}); using defaults"
    if not _sane(state):
        return ViewState(), f"the saved view {path} is damaged; using defaults"
    return state, None


def _sane(state: ViewState) -> bool:
    return (isinstance(state.sort, str) and isinstance(state.reverse, bool)
            and isinstance(state.filter, str) and isinstance(state.grouping, str)
            and (state.columns is None or all(isinstance(c, str) for c in state.columns))
            and isinstance(state.folded, list)
            and (state.chart_metric is None or isinstance(state.chart_metric, str))
            and (state.selected is None or type(state.selected) is int)
            and state.pane in ("log", "chart"))


def save(path: Path, state: ViewState) -> None:
    """Write atomically (a new file renamed over the old); a failure is left to the caller."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = json.dumps({"version": VERSION, **asdict(state)}, sort_keys=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(data)
    os.replace(tmp, path)


def reset(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
