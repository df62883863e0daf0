"""`python -m tui` is the `tui` command."""

from tui.cli import entry

entry()
