"""The run list's cursor, marks and clicks: mixed into RunTable (see there for its state).

Marks apply where the filter lets them: `marked_rows` are the marked runs the filter shows,
`hidden_marks` how many it hides, so an action on marks never reaches a run out of sight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.runlist.rows import RunRow

if TYPE_CHECKING:
    from tui.app.widgets.run_table_parts import RunTableParts as _Table
else:
    _Table = object                  # RunTable gives the state (run_table_parts)


class RunSelection(_Table):
    """The cursor, the marks and what a click does."""

    # ------------------------------------------------------------ marks

    def toggle_mark(self) -> None:
        row = self.current
        if row is None:
            return
        self.marked.symmetric_difference_update({row.id})
        self._refresh_run(row.id)
        self.post_message(self.MarksChanged())

    def unmark_all(self) -> None:
        self.marked.clear()
        self.refresh()
        self.post_message(self.MarksChanged())

    def unmark(self, ids) -> None:
        """Marks an action used up (cancel, remove) are cleared."""
        if self.marked & set(ids):
            self.marked.difference_update(ids)
            self.refresh()
            self.post_message(self.MarksChanged())

    def action_mark_all(self) -> None:
        """Mark every run the filter shows (folded ones too); if all are, unmark them."""
        ids = {row.id for row in self.filtered}
        if ids and ids <= self.marked:
            self.marked -= ids
        else:
            self.marked |= ids
        self.refresh()
        self.post_message(self.MarksChanged())

    @property
    def marked_rows(self) -> list[RunRow]:
        """The marked runs the filter shows: what an action on marks applies to."""
        shown = {row.id for row in self.filtered} if not self.filter.empty else None
        return [self.rows[i] for i in sorted(self.marked)
                if i in self.rows and (shown is None or i in shown)]

    @property
    def hidden_marks(self) -> int:
        """How many marked runs the filter hides (they are left alone by actions)."""
        return len([i for i in self.marked if i in self.rows]) - len(self.marked_rows)

    @property
    def current(self) -> RunRow | None:
        if 0 <= self.cursor < len(self.shown):
            return self.shown[self.cursor][0]
        return None

    def select_run(self, run_id: int) -> bool:
        if run_id in self.index_of:
            self.cursor = self.index_of[run_id]
            return True
        return False

    # ------------------------------------------------------------ cursor and keys

    def watch_cursor(self, old: int, new: int) -> None:
        clamped = max(0, min(new, len(self.shown) - 1)) if self.shown else 0
        if clamped != new:
            self.set_reactive(type(self).cursor, clamped)
        self.refresh_line(old + 1)
        self.refresh_line(clamped + 1)
        self._scroll_to_cursor()
        self._announce()

    def _announce(self) -> None:
        row = self.current
        run_id = row.id if row else None
        if run_id != self._selected_id:
            self._selected_id = run_id
            self.post_message(self.Highlighted(row))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor = max(0, self.cursor - 1)

    def action_page_down(self) -> None:
        self.cursor += max(1, self.size.height - 2)

    def action_page_up(self) -> None:
        self.cursor = max(0, self.cursor - max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.shown) - 1

    def action_mark(self) -> None:
        self.toggle_mark()
        self.cursor += 1

    def action_unmark_all(self) -> None:
        self.unmark_all()

    def action_focus_log(self) -> None:
        self.post_message(self.Activated())

    def on_click(self, event) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None and column not in ("mark", "spark", "parent"):
                if column == self.sort_column:
                    self.set_sort(column, not self.reverse)
                else:
                    self.set_sort(column)
                self.cursor = 0
            return
        self.cursor = round(self.scroll_y) + offset.y - 1

    def _column_at(self, x: int) -> str | None:
        start = 0
        for column in self.columns:
            if start <= x < start + column.width:
                return column.name
            start += column.width + 1
        return None
