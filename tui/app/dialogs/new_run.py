"""A new run: its command (as typed in a shell), name, target, GPUs, tags and an optional
sweep; Enter launches (a sweep first shows its plan, to confirm).

The run is launched from the folder the app was started in, with the app's environment,
exactly as `tui launch` from that shell would. A sweep is written as on the command line,
axes separated by spaces: `lr=0.1,0.01 bs=32,64` (use `{lr}` in the command, or let
runyard add `--lr`).
"""

from __future__ import annotations

import shlex

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from core.errors import UsageError
from core.requests import LaunchRequest, here
from tui.app import keys
from tui.app.widgets.key_bar import KeyBar
from tui.app.dialogs.clone import field


class NewRunDialog(ModalScreen[LaunchRequest | None]):
    """Returns the launch request the fields describe (made from `cwd`), or None."""

    BINDINGS = [*keys.bindings("dialog"),
                Binding("enter", "launch", "launch", priority=True, show=False),
                Binding("down", "app.focus_next", show=False),
                Binding("up", "app.focus_previous", show=False)]

    def __init__(self, cwd: str, targets: list[str], command: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.cwd = cwd
        self.targets = targets
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog new-run"):
            yield Static(f"new run in {self.cwd}", classes="title", markup=False)
            with VerticalScroll(classes="fields"):
                yield field("command", Input(self.command, id="command", compact=True,
                                             placeholder="python3 train.py --lr 0.01"))
                yield field("name", Input(id="name", compact=True,
                                          placeholder="(from the command)"))
                yield field("target", Input("local", id="target", compact=True,
                                            suggester=SuggestFromList(self.targets)))
                yield field("gpus", Input("0", id="gpus", type="integer", compact=True))
                yield field("tags", Input(id="tags", compact=True, placeholder="a b c"))
                yield field("sweep", Input(id="sweep", compact=True,
                                           placeholder="lr=0.1,0.01 bs=32,64 (optional)"))
            yield Static("", id="error", classes="error", markup=False)
            yield Static("enter: launch · tab/↑↓: field · esc: cancel", classes="hint")
        yield KeyBar(entries=[("enter", "launch"), ("tab/↑↓", "field"), ("esc", "cancel")])

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)

    def action_launch(self) -> None:
        try:
            argv = shlex.split(self.query_one("#command", Input).value)
        except ValueError as exc:
            self.query_one("#error", Static).update(f"command: {exc}")
            return
        gpus = self.query_one("#gpus", Input).value.strip() or "0"
        if not argv:
            self.query_one("#error", Static).update("command: give a command to run")
            return
        if not gpus.isdigit():
            self.query_one("#error", Static).update("gpus: a number, 0 or more")
            return
        try:
            request = LaunchRequest(
                **{**here(), "cwd": self.cwd}, argv=argv,
                name=self.query_one("#name", Input).value.strip() or None,
                target=self.query_one("#target", Input).value.strip() or None,
                gpus=int(gpus), tags=self.query_one("#tags", Input).value.split(),
                sweep=self.query_one("#sweep", Input).value.split())
        except UsageError as exc:                   # a value the request refuses (gpus 10**30)
            self.query_one("#error", Static).update(exc.message)
            return
        self.dismiss(request)
