"""`?`: every key binding in force, with the id that `[keys]` in the config remaps."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.app import keys
from tui.app.widgets.key_bar import KeyBar

SCOPES = {"app": "everywhere", "main": "runs screen", "runs": "run list", "log": "log pane",
          "chart": "metrics pane and compare view", "files": "files of a run",
          "viewer": "a file's content", "dialog": "dialogs"}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [*keys.bindings("dialog"), Binding("q,question_mark", "dismiss_dialog", show=False),
                Binding("down,j", "scroll(1)", show=False), Binding("up,k", "scroll(-1)", show=False),
                Binding("pagedown,space,ctrl+d", "scroll(10)", show=False),
                Binding("pageup,ctrl+u", "scroll(-10)", show=False),
                Binding("end,G", "scroll(10000)", show=False),
                Binding("home", "scroll(-10000)", show=False)]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__(classes="dialog-screen")
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        lines = [Text(f"{'keys':<14} {'does':<34} id in [keys]", style="bold")]
        current = None
        for scope, key, in_force in keys.effective(self.keymap):
            if scope != current:
                current = scope
                lines.append(Text(SCOPES.get(scope, scope), style="bold underline"))
            line = Text(f"{keys.display(in_force):<14} {key.description:<34} ")
            line.append(key.id, "dim")
            lines.append(line)
        table = Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
        with Vertical(classes="dialog help"):
            yield Static("keys · remap any of them in the config: [keys] clone = \"C\"",
                         classes="title", markup=False)
            with VerticalScroll(classes="fields"):
                yield Static(table, classes="help-table")
            yield Static("j/k ↑↓ pgup pgdn home end: scroll · esc / q: close", classes="hint")
        yield KeyBar(entries=[("j/k", "scroll"), ("pgup/pgdn", "page"),
                              ("home/end", "first/last"), ("esc/q", "close")])

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
