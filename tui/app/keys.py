"""Every key binding of the app in one table: its id, default keys, action and words.

Screens and widgets take their `BINDINGS` from here, the help screen lists this table, and
`[keys]` in the config remaps any binding by id (`clone = "C"`, several keys: `"c,ctrl+k"`).
Nothing is bound to ctrl+b (tmux's prefix) or ctrl+a (screen's).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    show: bool = False          # shown in the footer
    short: str = ""             # the footer's word for it (default: the description)


# scope: where the binding applies (the help screen groups by it).
TABLE: dict[str, tuple[Key, ...]] = {
    "app": (
        Key("quit", "q", "quit", "quit (runs keep running)", show=True,
            short="quit · runs keep running"),
        Key("help", "question_mark", "help", "show every key", show=True, short="keys"),
        Key("palette", "colon", "command_palette", "command palette", show=True,
            short="commands"),
    ),
    "main": (
        Key("clone", "c", "clone", "clone and tweak", show=True, short="clone"),
        Key("edit", "e", "edit_spec", "edit the spec in $EDITOR, launch"),
        Key("rerun", "r", "rerun", "rerun as is"),
        Key("cancel", "x", "cancel", "cancel (asks first)"),
        Key("remove", "D,delete", "remove", "remove ended runs (asks first)"),
        Key("new", "n", "new_run", "new run"),
        Key("diff", "d", "diff", "diff with its parent, or 2 marked"),
        Key("files", "f", "files", "the files the run wrote (view, pull)"),
        Key("filter", "slash", "filter", "filter", show=True),
        Key("next_pane", "tab", "next_pane", "next pane"),
        Key("previous_pane", "shift+tab", "previous_pane", "previous pane"),
        Key("show_metrics", "M", "show_metrics", "metrics pane"),
        Key("sort", "s", "sort_next", "sort by the next column"),
        Key("sort_reverse", "S", "sort_reverse", "reverse the sort"),
        Key("group", "g", "group_next", "group runs (sweep / lineage / none)"),
    ),
    "runs": (
        Key("cursor_down", "down,j", "cursor_down", "next run"),
        Key("cursor_up", "up,k", "cursor_up", "previous run"),
        Key("page_down", "pagedown,ctrl+d", "page_down", "page down"),
        Key("page_up", "pageup,ctrl+u", "page_up", "page up"),
        Key("first", "home", "first", "first run"),
        Key("last", "end,G", "last", "last run"),
        Key("mark", "space", "mark", "mark / unmark", show=True, short="mark"),
        Key("unmark_all", "U", "unmark_all", "unmark all"),
        Key("fold", "z", "fold", "fold / unfold the run's sweep"),
        Key("fold_all", "Z", "fold_all", "fold / unfold every sweep"),
        Key("focus_log", "enter", "focus_log", "focus the log"),
    ),
    "log": (
        Key("log_down", "down,j", "scroll_lines(1)", "scroll down"),
        Key("log_up", "up,k", "scroll_lines(-1)", "scroll up"),
        Key("log_page_down", "pagedown,ctrl+d,space", "scroll_page(1)", "page down"),
        Key("log_page_up", "pageup,ctrl+u", "scroll_page(-1)", "page up"),
        Key("log_left", "left,h", "scroll_sideways(-8)", "scroll left"),
        Key("log_right", "right,l", "scroll_sideways(8)", "scroll right"),
        Key("log_top", "home", "top", "start of the log"),
        Key("log_follow", "end,G,F", "follow", "end of the log, follow"),
        Key("log_search", "slash", "search", "search the log"),
        Key("log_older", "n", "search_older", "previous match (older)"),
        Key("log_newer", "N", "search_newer", "next match (newer)"),
        Key("log_back", "escape", "back", "back to the run list"),
    ),
    "chart": (
        Key("metric_next", "down,j,right,l", "metric(1)", "next metric"),
        Key("metric_previous", "up,k,left,h", "metric(-1)", "previous metric"),
        Key("chart_back", "escape", "back", "back to the run list"),
    ),
    "files": (
        Key("files_view", "enter", "view", "view the file (text or CSV)", show=True,
            short="view"),
        Key("files_pull", "p", "pull", "pull the run's files here (runs/ID/out)", show=True,
            short="pull"),
        Key("files_all", "a", "toggle_all", "unchanged code files too"),
        Key("files_refresh", "r", "refresh", "list the files again"),
        Key("files_back", "escape,q", "back", "back to the runs", show=True, short="back"),
    ),
    "viewer": (
        Key("viewer_down", "down,j", "scroll(1)", "scroll down"),
        Key("viewer_up", "up,k", "scroll(-1)", "scroll up"),
        Key("viewer_page_down", "pagedown,space", "scroll(20)", "page down"),
        Key("viewer_page_up", "pageup", "scroll(-20)", "page up"),
        Key("viewer_back", "escape,q", "back", "close the file", show=True, short="close"),
    ),
    "dialog": (
        Key("dialog_cancel", "escape", "dismiss_dialog", "close without doing anything"),
    ),
}

ALL_IDS = frozenset(key.id for keys in TABLE.values() for key in keys)


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of one scope, each with its id so a keymap can remap it."""
    return [Binding(k.keys, k.action, k.short or k.description, show=k.show, id=k.id,
                    tooltip=k.description) for k in TABLE[scope]]


def effective(keymap: dict[str, str]) -> list[tuple[str, Key, str]]:
    """(scope, binding, keys in force) for every binding, with the user's keymap applied."""
    return [(scope, key, keymap.get(key.id, key.keys)) for scope, keys in TABLE.items()
            for key in keys]


def display(keys: str) -> str:
    """`question_mark,ctrl+d` -> `? ctrl+d` (how keys read in the help screen)."""
    names = {"question_mark": "?", "colon": ":", "slash": "/", "space": "space",
             "shift+tab": "shift+tab"}
    return " ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))
