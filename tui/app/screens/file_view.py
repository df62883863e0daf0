"""A file a run wrote, shown safely: text lines, a CSV as a table, or only the size if binary."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui import formatting
from tui.app import keys
from tui.runlist.file_preview import Preview


class FileViewScreen(Screen[None]):
    BINDINGS = keys.bindings("viewer")

    def __init__(self, title: str, local: str, preview: Preview) -> None:
        super().__init__()
        self.title_text = title           # already made plain by the caller
        self.local = local
        self.preview = preview

    def compose(self) -> ComposeResult:
        p = self.preview
        head = f"{self.title_text} · {formatting.size(p.size)}" + (f" · showing {p.cut}"
                                                                    if p.cut else "")
        yield Static(Text(head, style="bold", no_wrap=True, overflow="ellipsis"),
                     classes="screen-title")
        if p.kind == "table" and p.rows:
            table: DataTable = DataTable(id="file-table", zebra_stripes=True)
            width = len(p.rows[0])
            table.add_columns(*(Text(c) for c in p.rows[0][:width]))
            table.add_rows([[Text(c) for c in row] for row in p.rows[1:]])
            yield table
        else:
            with VerticalScroll(id="file-body"):
                if p.kind == "binary":
                    shown = Text(f"a binary file; the copy here is {self.local}", style="dim")
                else:
                    shown = Text("\n".join(p.lines), no_wrap=True)
                yield Static(shown, id="file-text")
        yield Footer()

    def action_scroll(self, lines: int) -> None:
        for body in self.query(VerticalScroll):
            body.scroll_relative(y=lines, animate=False)
        for table in self.query(DataTable):
            table.scroll_relative(y=lines, animate=False)

    def action_back(self) -> None:
        self.dismiss(None)
