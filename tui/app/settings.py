"""The app's settings: the `[app]` and `[keys]` config sections, checked like every other key.

    [app]
    theme = "quiet"          # a theme in themes/ or $XDG_CONFIG_HOME/runyard/themes/
    toasts = "all"           # a toast when a run ends: "all" (succeeded, failed, lost),
                             # "failures" (failed, lost), "none"
    bell = false             # ring the terminal bell with each toast
    main_metric = "loss"     # the metric shown in the run list (default: loss, else the first)

    [keys]
    clone = "K"              # binding id = keys (see `?` in the app, or tui/app/keys.py)

Precedence for the theme: `--theme`, then `RUNYARD_THEME`, then `[app] theme`, then quiet.
`load` hands both parsers to core.config (SECTIONS); the engine and the headless CLI keep
these sections unchecked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import config as configuration
from core.errors import ConfigError
from tui.app.keys import ALL_IDS, TABLE, display

DEFAULT_THEME = "quiet"
TOAST_CHOICES = ("all", "failures", "none")
_APP_KEYS = {"theme", "toasts", "bell", "main_metric"}


@dataclass(frozen=True)
class AppSettings:
    theme: str = DEFAULT_THEME
    toasts: str = "all"
    bell: bool = False
    main_metric: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    better: dict[str, str] = field(default_factory=dict)    # [results] better
    project_root: str | None = None       # where the view is saved for (the project folder)


def parse_app(path: Path, value: Any) -> dict:
    if not isinstance(value, dict):
        raise configuration.fail(path, "app", "a table", value)
    for key in value:
        if key not in _APP_KEYS:
            raise ConfigError(f"{path}: app.{key}: unknown key",
                              hint=f"allowed in [app]: {', '.join(sorted(_APP_KEYS))}")
    out = dict(value)
    if "theme" in out:
        configuration.string(path, "app.theme", out["theme"])
    if "main_metric" in out:
        configuration.string(path, "app.main_metric", out["main_metric"])
    if "toasts" in out and out["toasts"] not in TOAST_CHOICES:
        raise configuration.fail(path, "app.toasts", "one of " + ", ".join(TOAST_CHOICES),
                                 out["toasts"])
    if "bell" in out and not isinstance(out["bell"], bool):
        raise configuration.fail(path, "app.bell", "true or false", out["bell"])
    return out


def parse_keys(path: Path, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise configuration.fail(path, "keys", "a table of binding id = keys", value)
    out = {}
    for binding_id, keys in value.items():
        if binding_id not in ALL_IDS:
            raise ConfigError(f"{path}: keys.{binding_id}: unknown binding id",
                              hint="the ids are listed by `?` in the app; for example "
                                   "clone, rerun, cancel, filter, quit")
        if not isinstance(keys, str) or not keys.strip() or "ctrl+b" in keys.replace(" ", ""):
            raise configuration.fail(path, f"keys.{binding_id}",
                                     'keys such as "c" or "c,ctrl+k" (not ctrl+b, tmux\'s '
                                     'prefix)', keys)
        out[binding_id] = keys.replace(" ", "")
    _refuse_clashes(path, out)
    return out


def _refuse_clashes(path: Path, keymap: dict[str, str]) -> None:
    """A remapped key that another binding of the same place already has took that binding's
    key away without a word (`clone = "C"` left compare with no key); it is an error."""
    for bindings in TABLE.values():
        owner: dict[str, str] = {}
        for binding in bindings:
            for key in keymap.get(binding.id, binding.keys).split(","):
                other = owner.setdefault(key, binding.id)
                if other != binding.id and (binding.id in keymap or other in keymap):
                    mine, theirs = (binding.id, other) if binding.id in keymap \
                        else (other, binding.id)
                    raise ConfigError(f"{path}: keys.{mine}: {display(key)} is {theirs}'s key "
                                      "already", hint=f"choose another key, or give {theirs} "
                                      f"one too ({theirs} = \"...\")")


# The sections the app owns, checked when the app reads the config (core.config.load).
SECTIONS: dict[str, configuration.SectionParser] = {"app": parse_app, "keys": parse_keys}


def load(cwd: str | os.PathLike, theme: str | None = None,
         environ: Mapping[str, str] | None = None) -> tuple[AppSettings, list[str]]:
    """The settings for an app started in `cwd`, and the problems found (shown as notices).

    A broken config never stops the app: it says so and uses the defaults.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    project = configuration.find_project(cwd)
    try:
        loaded = configuration.load(project, dict(environ), SECTIONS)
        app, keys = loaded.sections.get("app", {}), loaded.sections.get("keys", {})
        better = loaded.better
    except ConfigError as exc:
        problems.append(exc.message + (f" (hint: {exc.hint})" if exc.hint else ""))
        app, keys, better = {}, {}, {}
    chosen = theme or environ.get("RUNYARD_THEME") or app.get("theme") or DEFAULT_THEME
    return AppSettings(theme=chosen, toasts=app.get("toasts", "all"),
                       bell=app.get("bell", False), main_metric=app.get("main_metric"),
                       keys=dict(keys), better=dict(better),
                       project_root=str(project.root)), problems
