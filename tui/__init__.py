"""runyard's user interfaces: the `tui` command line and the full-screen Textual app."""
