"""The headless `tui` commands: argument parsing, dispatch, output. No Textual, no Rich."""
