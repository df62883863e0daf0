"""A choice between two things that reads without colour: `(•) run 7's snapshot  ( ) the
project as it is now`. Space (or a click) switches; `value` is True for the second.

Textual's Checkbox draws `▐X▌` whether it is on or off, only its colour differs; this one
says in characters and words which choice is in force.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget


class Toggle(Widget, can_focus=True):
    DEFAULT_CSS = "Toggle { height: 1; width: 1fr; }"
    BINDINGS = [Binding("space", "switch", "switch", show=False)]

    class Changed(Message):
        def __init__(self, toggle: "Toggle") -> None:
            super().__init__()
            self.toggle = toggle

    def __init__(self, off: str, on: str, value: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.labels = (off, on)
        self._value = value

    @property
    def value(self) -> bool:
        return self._value

    @value.setter
    def value(self, value: bool) -> None:
        self._value = bool(value)
        self.refresh()
        self.post_message(self.Changed(self))

    def action_switch(self) -> None:
        self.value = not self._value

    def on_click(self) -> None:
        self.action_switch()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, label in enumerate(self.labels):
            chosen = (i == 1) == self._value
            if i:
                text.append("  ")
            text.append("(•) " if chosen else "( ) ", "bold" if chosen else "")
            text.append(label, "bold" if chosen else "dim")
        return text
