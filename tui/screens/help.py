"""`?`: every key binding in force, with the id that `[keys]` in the config remaps."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import keys

SCOPES = {"app": "everywhere", "main": "runs screen", "runs": "run list", "log": "log pane",
          "chart": "metrics pane", "dialog": "dialogs"}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [*keys.bindings("dialog"), Binding("q,question_mark", "dismiss_dialog", show=False),
                Binding("down,j", "scroll(1)", show=False), Binding("up,k", "scroll(-1)", show=False)]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__(classes="dialog-screen")
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1, 0, 0), show_header=True, header_style="bold")
        table.add_column(Text("keys"), no_wrap=True, max_width=22)
        table.add_column(Text("does"), ratio=1)
        table.add_column(Text("id in [keys]"), style="dim", no_wrap=True)
        current = None
        for scope, key, in_force in keys.effective(self.keymap):
            if scope != current:
                current = scope
                table.add_row(Text(SCOPES.get(scope, scope), style="bold underline"))
            table.add_row(Text(keys.display(in_force)), Text(key.description), Text(key.id))
        with Vertical(classes="dialog help"):
            yield Static("keys · remap any of them in the config: [keys] clone = \"C\"",
                         classes="title", markup=False)
            with VerticalScroll(classes="fields"):
                yield Static(table)
            yield Static("esc / q: close", classes="hint")

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
