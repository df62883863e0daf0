"""`python -m tui` is the `tui` command."""

from tui.cli.main import entry

entry()
