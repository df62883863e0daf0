"""A one-line prompt (filter, log search): Enter keeps what was typed, Escape gives up."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class PromptBar(Input):
    BINDINGS = [Binding("escape", "give_up", "close", show=False)]

    class Cancelled(Message):
        def __init__(self, bar: "PromptBar") -> None:
            super().__init__()
            self.bar = bar

        @property
        def control(self) -> "PromptBar":
            return self.bar

    def __init__(self, placeholder: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id, compact=True, classes="prompt hidden")

    def open(self, value: str = "") -> None:
        self.value = value
        self.remove_class("hidden")
        self.focus()

    def close(self) -> None:
        self.add_class("hidden")

    def action_give_up(self) -> None:
        self.post_message(self.Cancelled(self))
