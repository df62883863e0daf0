"""`s`: pick the column to sort by from a list; its number (or letter) picks it at once.

A metric sorts best first (lower for loss-like names), and the list's first run is then
selected: the best. `S` reverses the order afterwards.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.app import keys
from tui.app.widgets.key_bar import KeyBar
from tui.runlist.columns import plain

# In list order; j, k and q are left out (moving, and leaving, in lists elsewhere).
HOTKEYS = "123456789abcdefghilmnoprstuvwxyz"


class SortDialog(ModalScreen[str | None]):
    """Returns the chosen column's name, or None."""

    BINDINGS = keys.bindings("dialog")

    def __init__(self, choices: list[tuple[str, str]], current: str) -> None:
        super().__init__(classes="dialog-screen")
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        width = max([len(plain(name)) for name, _ in self.choices] + [4])
        options = []
        for i, (name, what) in enumerate(self.choices):
            prompt = Text(no_wrap=True, overflow="ellipsis")
            prompt.append(f"{HOTKEYS[i] if i < len(HOTKEYS) else ' '} ", "bold")
            prompt.append(plain(name).ljust(width))
            if what:
                prompt.append(f"  {what}", "dim")
            if name == self.current:
                prompt.append("  (now)", "italic")
            options.append(Option(prompt, id=f"column-{i}"))
        with Vertical(classes="dialog sort"):
            yield Static("sort by", classes="title", markup=False)
            yield OptionList(*options, id="sort-columns")
            yield Static("its number or letter · ↑↓ enter · esc: cancel", classes="hint")
        yield KeyBar(entries=[("1-9 a-z", "pick"), ("↑↓ enter", "choose"), ("esc", "cancel")])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = [name for name, _ in self.choices]
        options.highlighted = names.index(self.current) if self.current in names else 0
        options.focus()

    def on_key(self, event: events.Key) -> None:
        char = event.character
        if char and char in HOTKEYS and HOTKEYS.index(char) < len(self.choices):
            event.stop()
            event.prevent_default()
            self.dismiss(self.choices[HOTKEYS.index(char)][0])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index][0])

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
