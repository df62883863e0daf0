"""What the main screen's keys do to runs: clone-and-tweak, edit spec, rerun, cancel, new, diff.

Every change goes to the engine as a request (in a worker thread, see RunyardApp.engine_
request); a launched run is put in the list from the engine's reply at once, selected,
before the next poll of the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import shlex
import subprocess
import tempfile

from textual.app import SuspendNotSupported

from core.store import queries as run_queries
from core.errors import RunyardError
from core.models import Run
from core.requests import (CancelRequest, CloneRequest, LaunchRequest, PlanRequest,
                           RemoveRequest, Request, here)
from tui import formatting
from tui.app.dialogs import if_given
from tui.runlist.columns import plain
from tui.runlist.rows import RunRow

if TYPE_CHECKING:
    from tui.app.screens.main_parts import MainScreenParts as _Screen
else:
    _Screen = object                 # MainScreen gives the rest (main_parts)

# lazy: dialogs, the diff and help screens and their helpers are imported when first
# opened, which keeps ~17 ms off the app's start (tests/bench/bench_imports.py); each such
# import below says `lazy`.


class RunActions(_Screen):
    """Mixed into MainScreen (which provides `table`, `app` and `notify`)."""

    def _full_run(self) -> Run | None:
        row = self.table.current
        if row is None or self.app.store.conn is None:
            self.app.notify("no run selected", severity="warning")
            return None
        return run_queries.get_run(self.app.store.conn, row.id)

    def _targets(self) -> list[str]:
        conn = self.app.store.conn
        names = {"local"}
        if conn is not None:
            names.update(run_queries.target_names(conn))
        return sorted(names)

    # ------------------------------------------------------------ launching

    def action_clone(self) -> None:
        from tui.app.dialogs.clone import CloneDialog  # lazy
        run = self._full_run()
        if run is not None:
            self.app.push_screen(CloneDialog(run, self._targets()),
                                 if_given(self.clone))

    def action_rerun(self) -> None:
        run = self._full_run()
        if run is not None:                         # asked for explicitly: never a cache hit
            self.clone(CloneRequest(parent=run.id, **here(), force=True))

    def action_edit_spec(self) -> None:
        from tui import spec_toml  # lazy
        run = self._full_run()
        if run is None:
            return
        text = spec_toml.to_toml(run)
        edited = self._edit_in_editor(text, f"runyard-run-{run.id}-")
        if edited is None or edited == text:
            self.app.notify("spec unchanged: nothing launched")
            return
        try:
            request = spec_toml.to_clone_request(edited, run)
        except RunyardError as exc:
            self.app.notify(exc.message, title="not launched", severity="error", markup=False)
            return
        if request is None:
            self.app.notify("empty spec: nothing launched")
            return
        self.clone(request)

    def _edit_in_editor(self, text: str, prefix: str) -> str | None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".toml")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            command = [*shlex.split(editor), name]
            try:
                with self.app.suspend():
                    subprocess.run(command, check=False)
            except SuspendNotSupported:          # headless (tests): no terminal to hand over
                subprocess.run(command, check=False, stdin=subprocess.DEVNULL)
            except OSError as exc:
                self.app.notify(f"cannot start {editor}: {exc.strerror}", severity="error",
                                markup=False)
                return None
            with open(name) as handle:
                return handle.read()
        finally:
            os.unlink(name)

    def clone(self, request: CloneRequest) -> None:
        self.app.engine_request("clone", request, self._launched)

    def action_new_run(self) -> None:
        from tui.app.dialogs.new_run import NewRunDialog  # lazy
        row = self.table.current
        command = shlex.join(row.template) if row is not None else ""
        self.app.push_screen(NewRunDialog(os.getcwd(), self._targets(), command),
                             if_given(self.launch))

    def launch(self, request: LaunchRequest) -> None:
        if request.sweep:                         # a sweep: show its plan, then launch
            self.app.engine_request("plan", PlanRequest(launch=request),
                                    lambda reply: self._confirm_plan(reply["plan"], request))
            return
        self.app.engine_request("launch", request, self._launched)

    def _confirm_plan(self, plan: dict, request: LaunchRequest) -> None:
        from tui.app.dialogs.plan import PlanDialog  # lazy
        self.app.push_screen(PlanDialog(plan), if_given(lambda _go: self.app.engine_request(
            "launch", request, self._launched)))

    def _launched(self, reply: dict) -> None:
        for warning in reply.get("warnings", []):
            self.app.notify(warning, severity="warning", markup=False)
        for data in reply.get("runs") or [reply["run"]]:
            self.table.add_row(RunRow.from_json(data))
        for run_id in reply.get("cached", []):
            self.app.notify(f"run {run_id} already succeeded with this spec: nothing launched "
                            f"(r reruns it anyway)", markup=False)
        self._summary()

    # ------------------------------------------------------------ cancelling

    def _targets_of_action(self) -> tuple[list[RunRow], str, str]:
        """The runs an action on marks applies to: the marked runs the filter shows, else
        the selected run; with what to say about it in the dialog (marks the filter hides
        are left alone, and said so)."""
        table = self.table
        marked, hidden = table.marked_rows, table.hidden_marks
        note = f" ({hidden} marked run{'s' if hidden != 1 else ''} hidden by the filter: " \
               f"left alone)" if hidden else ""
        if marked:
            return marked, f"{len(marked)} marked run{'s' if len(marked) != 1 else ''}: ", note
        rows = [table.current] if table.current is not None else []
        return rows, "", note

    def action_cancel(self) -> None:
        from tui.app.dialogs.confirm import ConfirmDialog  # lazy
        rows, lead, note = self._targets_of_action()
        active = [r for r in rows if r.active]
        if not rows:
            self.app.notify("no run selected", severity="warning")
            return
        if not active:
            ended = ", ".join(str(r.id) for r in rows)
            self.app.notify(f"nothing to cancel: run {ended} has ended", severity="warning")
            return
        names = ", ".join(f"{r.id} {plain(r.name)}" for r in active[:5])
        more = f" and {len(active) - 5} more" if len(active) > 5 else ""
        left = f" ({len(rows) - len(active)} ended: left alone)" if len(active) < len(rows) else ""
        question = f"Cancel {lead}run {names}{more}{left}? (SIGTERM, grace period, then " \
                   f"SIGKILL){note}"
        ids = [r.id for r in active]
        consumed = [r.id for r in rows] if lead else []
        self.app.push_screen(ConfirmDialog(question, yes="Cancel runs"),
                             if_given(lambda _yes: self._send_consuming(
                                 "cancel", CancelRequest(ids=ids), consumed)))

    def _send_consuming(self, name: str, request: Request, marks: list[int],
                        on_reply=None) -> None:
        """Send a request that acts on marked runs; their marks are used up."""
        self.table.unmark(marks)
        self.app.engine_request(name, request, on_reply)

    def action_remove(self) -> None:
        from tui.app.dialogs.confirm import ConfirmDialog  # lazy
        rows, lead, note = self._targets_of_action()
        ended = [r for r in rows if r.state.terminal]
        if not rows:
            self.app.notify("no run selected", severity="warning")
            return
        if not ended:
            self.app.notify(f"nothing to remove: run {', '.join(str(r.id) for r in rows)} "
                            "has not ended (cancel it first)", severity="warning")
            return
        names = ", ".join(f"{r.id} {plain(r.name)}" for r in ended[:5])
        more = f" and {len(ended) - 5} more" if len(ended) > 5 else ""
        left = f" ({len(rows) - len(ended)} not ended: kept)" if len(ended) < len(rows) else ""
        question = (f"Remove {lead}run {names}{more}{left}? Its record, log, metrics and run "
                    f"folder are deleted.{note}")
        ids = [r.id for r in ended]
        consumed = [r.id for r in rows] if lead else []
        self.app.push_screen(ConfirmDialog(question, yes="Remove runs"),
                             if_given(lambda _yes: self._send_consuming(
                                 "remove", RemoveRequest(ids=ids), consumed,
                                 self._removed)))

    def _removed(self, reply: dict) -> None:
        removed = [run["id"] for run in reply["removed"]]
        self.table.remove_rows(removed)
        self.app.notify(f"removed {len(removed)} run{'s' if len(removed) != 1 else ''}, "
                        f"{formatting.size(reply['freed_bytes'])} freed", timeout=4)
        for warning in reply.get("warnings", []):
            self.app.notify(warning, severity="warning", markup=False)

    # ------------------------------------------------------------ files

    def action_files(self) -> None:
        from tui.app.screens.files import FilesScreen  # lazy
        row = self.table.current
        if row is None:
            self.app.notify("no run selected", severity="warning")
            return
        self.app.push_screen(FilesScreen(row.id, f"run {row.id} {plain(row.name)} on "
                                                 f"{plain(row.target)}"))

    # ------------------------------------------------------------ comparing

    def action_diff(self) -> None:
        from core.store.blobs import BlobStore  # lazy
        from tui.runlist.diff import compare  # lazy
        from tui.app.screens.diff import DiffScreen  # lazy
        conn = self.app.store.conn
        marked = self.table.marked_rows
        if len(marked) == 2:
            left_id, right_id = marked[0].id, marked[1].id
        elif self.table.current is not None and self.table.current.parent is not None:
            left_id, right_id = self.table.current.parent, self.table.current.id
        else:
            self.app.notify("diff: mark two runs (space), or select a run that has a parent",
                            severity="warning")
            return
        if conn is None:                       # rows are listed only from an open store
            return
        left, right = (run_queries.get_run(conn, i) for i in (left_id, right_id))
        self.app.push_screen(DiffScreen(compare(left, right, BlobStore(self.app.paths.blobs))))
