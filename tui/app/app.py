"""The full-screen app (`tui` with no arguments): wiring, themes, keymap and global keys.

The app only reads the store (SQLite, log files) and sends requests to the engine through
core.client, in worker threads; it never owns a run. Quitting stops nothing.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import closing
from typing import Callable

from textual.app import App
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from core.store import db
from core.store import queries as run_queries
from core.client import EngineClient, engine_alive
from core.errors import RunyardError
from core.models import RunState
from core.paths import StorePaths
from core.requests import Request
from tui.app import settings as app_settings
from tui.app import keys
from tui.app import themes
from tui.app.settings import AppSettings
from tui.app.palette import RunyardCommands
from tui import search_text
from tui.app.screens.main import MainScreen
from tui.runlist.columns import plain
from tui.runlist.rows import RunRow
from tui.runlist.store_watch import StoreWatch

TOAST_EACH = 2          # more runs than this ending at once share one toast per kind


class RunyardApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "runyard"
    BINDINGS = keys.bindings("app")
    COMMANDS = App.COMMANDS | {RunyardCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, paths: StorePaths, settings: AppSettings | None = None,
                 problems: list[str] | None = None, *, clock: Callable[[], float] = time.time,
                 revive_engine: bool = True, reset_view: bool = False) -> None:
        super().__init__()
        self.paths = paths
        self.reset_view = reset_view          # start from the default view (tui --reset-view)
        self.settings = settings or AppSettings()
        self.problems = list(problems or [])
        self.clock = clock
        self.revive_engine = revive_engine
        self.store = StoreWatch(paths)
        self._replies: dict[Worker, Callable | None] = {}
        loaded, theme_problems = themes.load_themes()
        self.problems += theme_problems
        for theme in loaded.values():
            self.register_theme(theme)
        self.theme = self._pick_theme(self.settings.theme, loaded)
        self.set_keymap(self.settings.keys)

    def _pick_theme(self, wanted: str, loaded: dict) -> str:
        if wanted in self.available_themes:
            return wanted
        default = app_settings.DEFAULT_THEME
        self.problems.append(f"theme {wanted!r} is not available (see themes/); "
                             f"using {default if default in loaded else themes.FALLBACK}")
        return default if default in loaded else themes.FALLBACK

    def get_line_filters(self):
        """Under NO_COLOR, no colour at all (see themes.WithoutColour)."""
        if self.no_color:
            return [themes.WithoutColour()]
        return super().get_line_filters()

    def get_default_screen(self):
        return MainScreen()

    def on_mount(self) -> None:
        for problem in self.problems:
            self.notify(problem, title="settings", severity="warning", timeout=10, markup=False)
        if self.revive_engine:
            self.run_worker(self._revive, name="revive-engine", group="engine", thread=True,
                            exit_on_error=False)

    def _revive(self) -> None:
        """Active runs with no engine (killed, machine rebooted): start it so it reattaches."""
        if engine_alive(self.paths):
            return
        try:
            conn = db.connect(self.paths.db)          # this thread's own connection
        except FileNotFoundError:
            return
        with closing(conn):
            active = run_queries.active_count(conn)
        if active:
            EngineClient(self.paths).start()

    # ------------------------------------------------------------ talking to the engine

    def engine_request(self, name: str, request: Request,
                       on_reply: Callable[[dict], None] | None = None) -> None:
        """Send a request from a worker thread; the reply (or the error) comes back here."""
        paths = self.paths
        self.in_thread(name, lambda: EngineClient(paths).request(request), on_reply)

    def in_thread(self, name: str, work: Callable, on_done: Callable | None = None,
                  group: str = "engine") -> None:
        """Run blocking work in a named worker thread; `on_done` gets its result here."""
        worker = self.run_worker(work, name=name, group=group, thread=True,
                                 exit_on_error=False)
        self._replies[worker] = on_done

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker results and failures are handled."""
        worker = event.worker
        if event.state is WorkerState.SUCCESS:
            callback = self._replies.pop(worker, None)
            if callback is not None:
                callback(worker.result)
        elif event.state is WorkerState.ERROR:
            self._replies.pop(worker, None)
            self.report_failure(worker)

    def report_failure(self, worker: Worker) -> None:
        """Say what went wrong in a worker (widgets' workers report here too)."""
        error = worker.error
        if isinstance(error, RunyardError):
            message = error.message + (f"\nhint: {error.hint}" if error.hint else "")
        else:
            message = f"{type(error).__name__}: {error}"
        self.notify(plain(message), title=f"{worker.name} failed", severity="error",
                    timeout=10, markup=False)

    # ------------------------------------------------------------ notices

    def runs_ended(self, rows: list[RunRow]) -> None:
        """Toasts (and the bell, if asked for) for runs that succeeded, failed, stopped or
        were lost since the last look: one each, or one for all of a kind when more than
        TOAST_EACH ended together (a sweep finishing), so the screen never fills up."""
        mode = self.settings.toasts
        if mode == "none":
            return
        # A search's pruned trials are its normal work: its end gets a toast, they do not.
        rows = sorted((r for r in rows if r.cause != "pruned"), key=lambda r: r.id)
        bad = [r for r in rows if r.state in (RunState.FAILED, RunState.LOST, RunState.STOPPED)]
        good = [r for r in rows if r.state is RunState.SUCCEEDED] if mode != "failures" else []
        kinds: tuple[tuple[list[RunRow], SeverityLevel], ...] = ((bad, "error"),
                                                                  (good, "information"))
        for group, severity in kinds:
            if len(group) <= TOAST_EACH:
                messages = [_ended_text(r) for r in group]
            else:
                counts: dict[str, int] = {}
                for r in group:
                    counts[r.state.value] = counts.get(r.state.value, 0) + 1
                ids = ", ".join(str(r.id) for r in group[:8]) + (", …" if len(group) > 8 else "")
                messages = [f"{len(group)} runs ended: "
                            + ", ".join(f"{n} {state}" for state, n in counts.items())
                            + f" ({ids})"]
            for message in messages:
                self.notify(message, severity=severity, timeout=6, markup=False)
                if self.settings.bell:
                    self.bell()

    def searches_ended(self, groups: list[dict]) -> None:
        """A toast for each search that ended (finished, stopped or failed) since the last
        look; with `toasts = "failures"`, only for those that failed."""
        mode = self.settings.toasts
        for group in groups:
            failed = group["search"]["state"] == "failed"
            if mode == "none" or (mode == "failures" and not failed):
                continue
            self.notify(plain(search_text.ended(group)), severity="error" if failed
                        else "information", timeout=8, markup=False)
            if self.settings.bell:
                self.bell()

    # ------------------------------------------------------------ global keys

    def keys_in_force(self, key: keys.Key) -> str:
        return self._keymap.get(key.id, key.keys)

    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen    # lazy: see tui.app.run_actions
        self.push_screen(HelpScreen(dict(self._keymap)))


def _ended_text(row: RunRow) -> str:
    failed = row.state is not RunState.SUCCEEDED
    detail = f" ({plain(row.reason)})" if failed and row.reason else ""
    return f"run {row.id} {plain(row.name)} {row.state.value}{detail}"


def run_app(paths: StorePaths, theme: str | None = None, reset_view: bool = False) -> int:
    settings, problems = app_settings.load(os.getcwd(), theme)
    app = RunyardApp(paths, settings, problems, reset_view=reset_view)
    app.run()
    active = 0
    if app.store.conn is not None:
        active = run_queries.active_count(app.store.conn)
        app.store.close()
    if active:
        print(f"runyard: {active} run(s) keep running; `tui` to come back", file=sys.stderr)
    return app.return_code or 0
