"""`f`: the files a run wrote, wherever it ran: sizes, times, what changed since its snapshot.

The list comes from the engine (it reaches boxes, Docker engines and clusters), in a worker
thread. Enter pulls the selected file to this machine (into runs/ID/out, content-addressed:
nothing travels when it is there already) and shows it (tui.app.screens.file_view); `p`
pulls every file the run wrote. File names are the run's: every one is made plain.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.client import EngineClient
from core.requests import FilesRequest, PullRequest
from tui import formatting
from tui.app import keys
from tui.runlist import file_preview
from tui.runlist.columns import plain

MARKS = {"new": "+ new", "changed": "~ changed", "unchanged": "  unchanged", "deleted": "- deleted"}

if TYPE_CHECKING:
    from textual import getters

    from tui.app.app import RunyardApp


class FilesScreen(Screen[None]):
    BINDINGS = keys.bindings("files")

    if TYPE_CHECKING:                     # Textual's typed `app` (the import would be a circle)
        app = getters.app(RunyardApp)

    def __init__(self, run_id: int, title: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.title_text = title
        self.show_all = False
        self.files: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f"files of {self.title_text}", style="bold", no_wrap=True,
                          overflow="ellipsis"), classes="screen-title")
        yield Static("listing…", id="files-status", markup=False)
        yield DataTable(id="files-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#files-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("status", Text("size", justify="right"), "modified", "path")
        self.table.focus()
        self._load()

    def _client(self) -> EngineClient:
        return EngineClient(self.app.paths)

    def _load(self) -> None:
        request = FilesRequest(id=self.run_id, all=self.show_all)
        self.app.in_thread("files", lambda: self._client().request(request), self._loaded)

    def _loaded(self, reply: dict) -> None:
        self.files = reply["files"]
        table = self.table
        table.clear()
        for f in self.files:
            size = formatting.size(f["size"]) if f["status"] != "deleted" else "-"
            table.add_row(MARKS[f["status"]], Text(size, justify="right"),
                          (f["mtime"] or "-")[:19].replace("T", " "),
                          Text(plain(f["path"]) + ("  (checkpoint)" if f["checkpoint"] else "")),
                          key=f["path"])
        self.query_one("#files-status", Static).update(self._status(reply))

    def _status(self, reply: dict) -> Text:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f["status"]] = counts.get(f["status"], 0) + 1
        written = sum(f["size"] for f in self.files if f["status"] in ("new", "changed"))
        words = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no file written"
        text = Text(f"{words}" + (f" · {formatting.size(written)} written" if written else ""))
        if not self.show_all:
            text.append(" · a: the unchanged code files too", "dim")
        if reply.get("stale"):
            text.append(f"\nas last seen ({reply['listed_at']}): {plain(reply['stale'])}",
                        "bold")
        return text

    def _selected(self) -> dict | None:
        if not self.files or self.table.cursor_row is None:
            return None
        return self.files[self.table.cursor_row]

    # ------------------------------------------------------------ keys

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row (the table takes the key before the screen's binding)."""
        event.stop()
        self.action_view()

    def action_view(self) -> None:
        chosen = self._selected()
        if chosen is None or chosen["status"] == "deleted":
            self.app.notify("no file to show here", severity="warning")
            return
        path = chosen["path"]
        run_id = self.run_id

        def fetch() -> tuple[str, file_preview.Preview]:
            reply = self._client().request(PullRequest(id=run_id, paths=[path]))
            local = Path(reply["to"]) / path
            return str(local), file_preview.read(local)

        self.app.in_thread("view", fetch, lambda got: self.app.push_screen(
            _viewer(f"run {run_id} · {plain(path)}", *got)))

    def action_pull(self) -> None:
        run_id = self.run_id
        self.app.in_thread("pull", lambda: self._client().request(PullRequest(id=run_id)),
                           self._pulled)

    def _pulled(self, reply: dict) -> None:
        counts = reply["counts"]
        done = ", ".join(f"{n} {how}" for how, n in counts.items()) or "nothing to pull"
        self.app.notify(f"run {self.run_id}: {done} in {plain(reply['to'])} "
                        f"({formatting.size(reply['content_bytes'])} sent)", markup=False)
        for problem in reply["problems"]:
            self.app.notify(plain(problem), severity="warning", markup=False)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._load()

    def action_refresh(self) -> None:
        self._load()

    def action_back(self) -> None:
        self.dismiss(None)


def _viewer(title: str, local: str, preview: file_preview.Preview):
    from tui.app.screens.file_view import FileViewScreen  # lazy: opened on Enter only
    return FileViewScreen(title, local, preview)
