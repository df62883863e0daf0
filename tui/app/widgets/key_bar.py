"""The footer: the keys that apply to the pane with the focus (or the dialog that is open),
shortened to fit the width.

Keys come from tui.app.keys.FOOTER (most useful first) with the user's keymap applied. When
they do not fit, the gaps narrow, then words are dropped from the end; `? keys` and
`q quit` always stay, so every other key is one press away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual.widget import Widget

from tui.app import keys

if TYPE_CHECKING:
    from textual import getters

    from tui.app.app import RunyardApp

GAP, NARROW_GAP = "  ", " "


def footer_entries(scope: str, in_force: Callable[[keys.Key], str]) -> list[tuple[str, str]]:
    """(keys, word) for a scope: `c clone`, `j/k scroll`, then the tail; `in_force` gives
    a binding's keys with the user's keymap applied."""
    by_id = {key.id: key for group in keys.TABLE.values() for key in group}
    out = []
    for ids, word in (*keys.FOOTER.get(scope, ()), *keys.FOOTER_TAIL):
        shown = "/".join(keys.footer_key(in_force(by_id[i])) for i in ids)
        out.append((shown, word))
    return out


def fit(entries: list[tuple[str, str]], width: int, tail: int = 2) -> tuple[list, str]:
    """The entries that fit in `width`, and the gap between them; the last `tail` entries
    are kept whatever else is dropped."""
    head, kept_tail = entries[:-tail] if tail else entries, entries[-tail:] if tail else []

    def size(items, gap):
        return sum(len(k) + 1 + len(w) for k, w in items) + len(gap) * max(0, len(items) - 1)

    for gap in (GAP, NARROW_GAP):
        if size(head + kept_tail, gap) <= width:
            return head + kept_tail, gap
    while head and size(head + kept_tail, NARROW_GAP) > width:
        head = head[:-1]
    return head + kept_tail, NARROW_GAP


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { height: 1; dock: bottom; background: $panel; color: $foreground; padding: 0 1; }
    """

    if TYPE_CHECKING:                     # Textual's typed `app` (the import would be a circle)
        app = getters.app(RunyardApp)

    def __init__(self, scope_of=None, entries: list[tuple[str, str]] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.scope_of = scope_of            # () -> the scope of the focused pane
        self.entries = entries              # a dialog's own keys, the last one always kept

    def on_mount(self) -> None:
        self.watch(self.screen, "focused", self._focus_moved, init=False)

    def _focus_moved(self, _focused) -> None:
        self.refresh()

    def scope(self) -> str:
        return self.scope_of() if self.scope_of is not None else "runs"

    def render(self) -> Text:
        if self.entries is not None:
            entries, gap = fit(self.entries, max(10, self.size.width), tail=1)
        else:
            entries, gap = fit(footer_entries(self.scope(), self.app.keys_in_force),
                               max(10, self.size.width))
        text = Text(no_wrap=True, overflow="crop")
        for i, (shown, word) in enumerate(entries):
            if i:
                text.append(gap)
            text.append(shown, "bold")
            text.append(" " + word)
        return text
