"""`python -m tui` is the `tui` command."""

from tui.entry import entry

entry()
