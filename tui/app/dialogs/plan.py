"""The plan of a sweep before it is launched: what each run would do now; Enter launches.

The plan is the engine's own (the `plan` op, as `tui launch --dry-run` shows it): the runs
with their params, target, GPU placement and whether they would be skipped as cached.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.app import keys
from tui.app.widgets.key_bar import KeyBar
from tui.plan_text import plan_lines


class PlanDialog(ModalScreen[bool]):
    """Returns True to launch what the plan shows, False to go back."""

    BINDINGS = [*keys.bindings("dialog"),
                Binding("enter", "launch", "launch", priority=True, show=False)]

    def __init__(self, plan: dict) -> None:
        super().__init__(classes="dialog-screen")
        self.plan = plan

    def compose(self) -> ComposeResult:
        runs = len(self.plan["runs"])
        with Vertical(classes="dialog plan"):
            yield Static(f"launch {runs} run{'s' if runs != 1 else ''}?", classes="title")
            with VerticalScroll(classes="fields"):
                yield Static("\n".join(plan_lines(self.plan)), id="plan-text", markup=False)
            yield Static("enter: launch · esc: back, nothing launched", classes="hint")
        yield KeyBar(entries=[("enter", "launch"), ("esc", "back, nothing launched")])

    def action_launch(self) -> None:
        self.dismiss(True)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(False)
