"""Themes as data: TOML files in `themes/` (and the user's own folder) turned into Textual themes.

A theme file names Textual's theme colours (primary, secondary, accent, warning, error,
success, foreground, background, surface, panel, boost), `dark`, `ansi` (only the
terminal's 16 colours) and optional `[variables]`. A broken file is reported and skipped,
never fatal: the app says which file and why, and uses the default theme.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from rich.segment import Segment
from textual.color import Color, ColorParseError
from textual.filter import LineFilter
from textual.theme import Theme

from core.paths import user_config_path

def _builtin_dir() -> Path:
    """`themes/` of the source tree (a checkout, an editable install), else the copy an
    installed wheel put in `<prefix>/share/runyard/themes`."""
    source = Path(__file__).resolve().parents[2] / "themes"
    if source.is_dir():
        return source
    return Path(sys.prefix) / "share" / "runyard" / "themes"


BUILTIN_DIR = _builtin_dir()
FALLBACK = "textual-dark"          # only when the default theme's own file is broken
_COLOURS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground",
            "background", "surface", "panel", "boost")
_OTHER = {"name": str, "dark": bool, "ansi": bool, "luminosity_spread": float,
          "text_alpha": float}


class ThemeFileError(Exception):
    """A theme file that cannot be used; the message names the file and the key."""


def theme_dirs(environ: dict[str, str] | None = None) -> list[Path]:
    """Built-in themes first, then `$XDG_CONFIG_HOME/runyard/themes/` (later names win)."""
    return [BUILTIN_DIR, user_config_path(environ).parent / "themes"]


def load_themes(dirs: list[Path] | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Every theme that loads, by name, and a message for each file that does not."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in dirs if dirs is not None else theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = read_theme(path)
            except ThemeFileError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return themes, problems


def read_theme(path: Path) -> Theme:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThemeFileError(f"theme file {path}: {exc}") from None
    unknown = set(data) - set(_COLOURS) - set(_OTHER) - {"variables"}
    if unknown:
        raise ThemeFileError(f"theme file {path}: unknown key {sorted(unknown)[0]!r}")
    if "primary" not in data:
        raise ThemeFileError(f"theme file {path}: primary: a colour is required")
    fields: dict = {"name": data.get("name", path.stem)}
    for key, kind in _OTHER.items():
        if key in data and key != "name":
            value = data[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind):
                raise ThemeFileError(f"theme file {path}: {key}: expected {kind.__name__}, "
                                     f"got {value!r}")
            fields[key] = value
    for key in _COLOURS:
        if key in data:
            fields[key] = _colour(path, key, data[key])
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(f"theme file {path}: variables: expected a table")
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(f"theme file {path}: variables.{key}: expected a string, "
                                 f"got {value!r}")
    fields["variables"] = dict(variables)
    return Theme(**fields)


def _colour(path: Path, key: str, value) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"theme file {path}: {key}: expected a colour, got {value!r}")
    if value == "ansi_default":
        return value
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"theme file {path}: {key}: {value!r} is not a colour "
                             "(#rrggbb, a colour name or ansi_NAME)") from None
    return value


def rich_colour(name: str) -> str:
    """A theme colour as Rich writes it (`ansi_bright_blue` -> `bright_blue`)."""
    return name.removeprefix("ansi_") if name.startswith("ansi_") else name


class WithoutColour(LineFilter):
    """NO_COLOR: every colour taken out of what is drawn, bold, reverse and underline kept.

    Textual's own NO_COLOR filter turns colours into shades of grey (truecolor codes), and
    its other one sets the terminal's default colours (codes 39/49); this one leaves no
    colour code at all."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [Segment(text, None if style is None else style.without_color, control)
                for text, style, control in segments]
