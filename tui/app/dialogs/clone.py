"""Clone-and-tweak: a run's params as fields, its command, target, GPUs and code; Enter launches.

The first param has the focus and its text is selected, so changing one param takes the
field (tab, or up/down), the value and Enter. Enter launches from any field.
"""

from __future__ import annotations

import shlex

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from core.errors import UsageError
from core.models import Run
from core.requests import CloneRequest, here
from core.spec.params import as_text
from tui.app import keys
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.toggle import Toggle
from tui.runlist.columns import plain


def field(label: str, widget) -> Horizontal:
    return Horizontal(Label(label, classes="field-label", markup=False), widget, classes="field")


class CloneDialog(ModalScreen[CloneRequest | None]):
    """Returns the clone request the fields describe, or None."""

    BINDINGS = [*keys.bindings("dialog"),
                Binding("enter", "launch", "launch", priority=True, show=False),
                Binding("down", "app.focus_next", show=False),
                Binding("up", "app.focus_previous", show=False)]

    def __init__(self, run: Run, targets: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.run = run
        self.targets = targets
        self.param_keys = list(run.spec.params)

    def compose(self) -> ComposeResult:
        run = self.run
        with Vertical(classes="dialog clone"):
            yield Static(f"clone run {run.id} · {plain(run.name)} · {run.state.value}",
                         classes="title", markup=False)
            with VerticalScroll(classes="fields"):
                for i, key in enumerate(self.param_keys):
                    yield field(plain(key), Input(as_text(run.spec.params[key]),
                                                  id=f"param-{i}", compact=True))
                yield field("+ param", Input(placeholder="key=value (more: a=1 b=2)",
                                             id="extra", compact=True))
                yield field("command", Input(shlex.join(run.spec.template), id="command",
                                             compact=True))
                yield field("target", Input(run.spec.target, id="target", compact=True,
                                            suggester=SuggestFromList(self.targets)))
                yield field("gpus", Input(str(run.spec.gpus), id="gpus", type="integer",
                                          compact=True))
                yield field("code", Toggle(f"run {run.id}'s snapshot",
                                           "the project as it is now", id="current"))
            yield Static("", id="error", classes="error", markup=False)
            yield Static("enter: launch · tab/↑↓: field · space: switch the code · esc: cancel",
                         classes="hint")
        yield KeyBar(entries=[("enter", "launch"), ("tab/↑↓", "field"),
                              ("space", "switch the code"), ("esc", "cancel")])

    def on_mount(self) -> None:
        first = self.query("Input").first()
        first.focus()

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)

    def action_launch(self) -> None:
        try:
            request = self.request()
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        except UsageError as exc:                   # a value the request refuses (gpus 10**30)
            self.query_one("#error", Static).update(exc.message)
            return
        self.dismiss(request)

    def request(self) -> CloneRequest:
        """The clone request the fields describe; ValueError names a field that is wrong."""
        run = self.run
        changed = []
        for i, key in enumerate(self.param_keys):
            value = self.query_one(f"#param-{i}", Input).value.strip()
            if value != as_text(run.spec.params[key]):
                changed.append(f"{key}={value}")
        for item in self.query_one("#extra", Input).value.split():
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"+ param: {item!r} is not key=value")
            changed.append(item)
        try:
            command = shlex.split(self.query_one("#command", Input).value)
        except ValueError as exc:
            raise ValueError(f"command: {exc}") from None
        if not command:
            raise ValueError("command: give a command")
        target = self.query_one("#target", Input).value.strip() or run.spec.target
        gpus_text = self.query_one("#gpus", Input).value.strip() or "0"
        if not gpus_text.isdigit():
            raise ValueError("gpus: a number, 0 or more")
        current = self.query_one("#current", Toggle).value
        return CloneRequest(parent=run.id, **here(), set=changed,
                            template=command if command != run.spec.template else None,
                            target=target if target != run.spec.target else None,
                            gpus=int(gpus_text) if int(gpus_text) != run.spec.gpus else None,
                            code="current" if current else "parent")
