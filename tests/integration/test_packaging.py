"""What a wheel carries: a user who installs runyard from a wheel gets the same files
(wrapper scripts, stylesheet, theme files) that a checkout has."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_ships_the_wrapper_the_stylesheet_and_every_theme(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("runyard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n)
    themes = {p.name for p in (ROOT / "themes").glob("*.toml")}
    assert {"quiet.toml", "light.toml", "contrast.toml", "ansi16.toml"} <= themes
    assert {f"{data}/data/share/runyard/themes/{t}" for t in themes} <= names
    assert {"core/runwrap.sh", "core/remote/boxhelper.sh", "tui/app/app.tcss"} <= names


def test_an_installed_package_looks_for_themes_where_the_wheel_puts_them(tmp_path):
    """Without a themes/ beside the package (a wheel install), the folder is
    <prefix>/share/runyard/themes, the place the wheel's data files land."""
    probe = (f"import sys, pathlib, tui.app.themes as t; "
             f"t.__file__ = {str(tmp_path / 'site' / 'tui' / 'app' / 'themes.py')!r}; "
             f"print(t._builtin_dir() == pathlib.Path(sys.prefix, 'share/runyard/themes'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "True"
