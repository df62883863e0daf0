"""A yes/no question whose default answer is No (Enter on the focused No, or Escape)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.app import keys
from tui.app.widgets.key_bar import KeyBar


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS = [*keys.bindings("dialog"), Binding("y", "answer(True)", "yes", show=False),
                Binding("n", "answer(False)", "no", show=False),
                Binding("left,h", "app.focus_previous", show=False),
                Binding("right,l", "app.focus_next", show=False)]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Static(self.question, classes="question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("No", id="no", variant="primary")
                yield Button(self.yes, id="yes", variant="error")
            yield Static("y: yes · n / esc: no", classes="hint")
        yield KeyBar(entries=[("y", "yes"), ("n", "no"), ("←/→", "button"), ("esc", "no")])

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(False)
