"""A run's log, live: the tail follows new output, scrolling back reads older lines by offset.

Every byte shown goes through core.textsafe.clean_line (colours kept, every other control
sequence dropped, carriage returns played like a terminal) and then Text.from_ansi, so a
run can never reach the terminal. Only the lines on screen are read and decoded; a
monster line shows its first DISPLAY_BYTES and says how much was cut.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.worker import WorkerState, get_current_worker

from core.textsafe import clean_line
from tui import formatting
from tui.app import keys
from tui.log_file import LogFile, Span

if TYPE_CHECKING:
    from textual import getters

    from tui.app.app import RunyardApp

POLL_SECONDS = 0.25
MAX_WIDTH = 4096                 # columns a line may scroll sideways to
_CACHE_LINES = 400


class LogView(Widget, can_focus=True):
    BINDINGS = keys.bindings("log")
    COMPONENT_CLASSES = {"logview--match", "logview--cut", "logview--note"}
    DEFAULT_CSS = "LogView { height: 1fr; }"

    if TYPE_CHECKING:                     # Textual's typed `app` (the import would be a circle)
        app = getters.app(RunyardApp)

    class Status(Message):
        """Where the view is in the file (shown by the pane's header)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class SearchRequested(Message):
        pass

    class Back(Message):
        pass

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.file: LogFile | None = None
        self.follow = True
        self.top = 0                      # byte offset of the first line shown (not following)
        self.x = 0
        self.search_text = ""
        self.match: int | None = None     # byte offset of the current match
        self.searching = False
        self.note = ""
        self._spans: list[Span] = []
        self._file_size = -1
        self._texts: OrderedDict[tuple, tuple[Text, int]] = OrderedDict()

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll, name="log-poll")

    # ------------------------------------------------------------ what is shown

    def show(self, path: Path | None) -> None:
        """Show another run's log, following its tail."""
        if self.file is not None:
            self.file.close()
        self.file = LogFile(path) if path is not None else None
        self.follow, self.top, self.x = True, 0, 0
        self.search_text, self.match, self.note = "", None, ""
        self._texts.clear()
        self._file_size = -1
        # Another file: nothing on screen stands, even where its lines have the same
        # offsets and lengths (a sweep's runs print lines of one width).
        self._spans = []
        self.refresh()
        self.poll()

    def poll(self) -> None:
        """Look at the file's size; repaint only when what is shown can have changed."""
        size = self.file.size() if self.file is not None else 0
        if size == self._file_size:
            return
        grew_only = self._file_size >= 0 and not self.follow
        self._file_size = size
        if grew_only and len(self._spans) >= self.size.height:
            self._status()                  # scrolled back: the view stays where it is
            return
        self._relayout()

    def _relayout(self) -> None:
        height = max(1, self.size.height)
        old = self._spans
        if self.file is None:
            self._spans = []
        elif self.follow:
            self._spans = self.file.spans_before(self._file_size, height)
        else:
            self._spans = self.file.spans_after(self.top, height)
            if len(self._spans) < height:
                self.follow = True
                self._spans = self.file.spans_before(self._file_size, height)
        if self._spans != old:
            self._repaint(old)
        self._status()

    def _repaint(self, old: list[Span]) -> None:
        """Refresh the lines that differ from what was on screen (all, when scrolled)."""
        if old and len(old) == len(self._spans) and old[:-1] == self._spans[:-1]:
            self.refresh(Region(0, len(old) - 1, self.size.width, 1))   # a progress bar
            return
        self.refresh()

    def on_resize(self) -> None:
        self._relayout()
        self.refresh()

    def _status(self) -> None:
        if self.file is None:
            text = "no run selected"
        elif self._file_size == 0:
            text = "no output yet"
        else:
            where = "following" if self.follow else \
                f"{100 * self.top / max(1, self._file_size):.0f}%"
            text = f"{formatting.size(self._file_size)} · {where}"
            if self.search_text:
                text += f" · /{self.search_text}" + (" searching…" if self.searching else "")
            if self.note:
                text += f" · {self.note}"
        self.post_message(self.Status(text))

    # ------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self._spans):
            if y == 0 and self.file is not None and self._file_size == 0:
                note = self.get_component_rich_style("logview--note")
                return Strip([*Text("no output yet", style=note).render(self.app.console)]) \
                    .extend_cell_length(width, self.rich_style).apply_style(self.rich_style)
            return Strip.blank(width, self.rich_style)
        text, cut = self._text(self._spans[y])
        base = self.rich_style
        strip = Strip(list(text.render(self.app.console, end=""))).apply_style(base)
        if not cut:
            return strip.crop_extend(self.x, self.x + width, base)
        # A cut line says so at the right edge, where it is seen.
        more = Strip(list(Text(f" … {formatting.size(cut)} more on this line",
                               self.get_component_rich_style("logview--cut"))
                          .render(self.app.console, end="")))
        room = max(0, width - more.cell_length)
        return Strip.join([strip.crop_extend(self.x, self.x + room, base),
                           more.apply_style(base)]).crop_extend(0, width, base)

    def _text(self, span: Span) -> tuple[Text, int]:
        key = (span, self.search_text)
        cached = self._texts.get(key)
        if cached is not None:
            self._texts.move_to_end(key)
            return cached
        assert self.file is not None, "lines are drawn only from an open file"
        data, cut = self.file.display_bytes(span)
        shown = clean_line(data.decode("utf-8", "replace")).replace("\t", "    ")
        text = Text.from_ansi(shown, no_wrap=True, end="")
        if self.search_text:
            text.highlight_words([self.search_text],
                                 self.get_component_rich_style("logview--match"),
                                 case_sensitive=False)
        self._texts[key] = (text, cut)
        if len(self._texts) > _CACHE_LINES:
            self._texts.popitem(last=False)
        return text, cut

    # ------------------------------------------------------------ moving

    def _show_from(self, top: int | None) -> None:
        """Show lines from byte offset `top`, or follow the tail (None)."""
        if self.file is None:
            return
        self.follow = top is None
        self.top = top or 0
        self._relayout()
        self.refresh()

    def _first_shown(self) -> int:
        return self._spans[0][0] if self._spans else 0

    def action_scroll_lines(self, count: int) -> None:
        if self.file is None or not self._spans:
            return
        if count > 0:
            after = self.file.spans_after(self._first_shown(), count + 1)
            if len(after) > count:
                self._show_from(after[count][0])
        else:
            before = self.file.spans_before(self._first_shown(), -count)
            if before:
                self._show_from(before[0][0])

    def action_scroll_page(self, pages: int) -> None:
        self.action_scroll_lines(pages * max(1, self.size.height - 1))

    def action_scroll_sideways(self, columns: int) -> None:
        self.x = max(0, min(MAX_WIDTH, self.x + columns))
        self.refresh()

    def action_top(self) -> None:
        self._show_from(0)

    def action_follow(self) -> None:
        self._show_from(None)

    def action_back(self) -> None:
        if self.search_text:
            self.search_text, self.match = "", None
            self._texts.clear()
            self._status()
            self.refresh()
            return
        self.post_message(self.Back())

    def on_mouse_scroll_up(self, event) -> None:
        event.stop()
        self.action_scroll_lines(-3)

    def on_mouse_scroll_down(self, event) -> None:
        event.stop()
        self.action_scroll_lines(3)

    # ------------------------------------------------------------ search

    def action_search(self) -> None:
        self.post_message(self.SearchRequested())

    def check_action(self, action: str, parameters) -> bool | None:
        if action in ("search_older", "search_newer"):
            return bool(self.search_text)        # otherwise n / N fall through to the screen
        return True

    def search(self, query: str) -> None:
        """Find `query` (any case), from the view's position towards the start of the log."""
        self.search_text, self.match = query, None
        self._texts.clear()
        origin = self._file_size if self.follow else self._first_shown() + 1
        self._start_search(origin, backward=True)

    def action_search_older(self) -> None:
        origin = self.match if self.match is not None else self._first_shown()
        self._start_search(origin, backward=True)

    def action_search_newer(self) -> None:
        origin = (self.match + 1) if self.match is not None else self._first_shown()
        self._start_search(origin, backward=False)

    def _start_search(self, origin: int, backward: bool) -> None:
        if self.file is None or not self.search_text:
            return
        self.searching, self.note = True, ""
        self._status()
        self._search_worker(self.file, self.search_text, origin, backward)

    @work(thread=True, exclusive=True, group="log-search", name="log-search",
          exit_on_error=False)
    def _search_worker(self, file: LogFile, query: str, origin: int, backward: bool) -> None:
        worker = get_current_worker()
        try:
            found = file.search(query, origin, backward, cancelled=lambda: worker.is_cancelled)
        except OSError as exc:
            self.app.call_from_thread(self._found, file, -1, f"cannot search: {exc.strerror}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._found, file, found, "")

    def on_worker_state_changed(self, event) -> None:
        if event.state is WorkerState.ERROR:
            self.searching = False
            self.app.report_failure(event.worker)

    def _found(self, file: LogFile, offset: int, problem: str) -> None:
        if file is not self.file:
            return
        self.searching = False
        if offset < 0:
            self.note = problem or "no more matches"
            self._status()
            return
        self.match = offset
        start = self.file.line_start(offset)
        context = self.file.spans_before(start, max(0, self.size.height // 3))
        self._show_from(context[0][0] if context else start)
