"""The full-screen Textual app: screens, dialogs, widgets, keys, themes."""
