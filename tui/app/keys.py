"""Every key binding of the app in one table: its id, default keys, action and words.

Screens and widgets take their `BINDINGS` from here, the help screen lists this table, and
`[keys]` in the config remaps any binding by id (`clone = "C"`, several keys: `"c,ctrl+k"`).
Nothing is bound to ctrl+b (tmux's prefix) or ctrl+a (screen's).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


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
        Key("compare", "C", "compare", "compare the marked runs (or the run's sweep)"),
        Key("filter", "slash", "filter", "filter", show=True),
        Key("next_pane", "tab", "next_pane", "next pane"),
        Key("previous_pane", "shift+tab", "previous_pane", "previous pane"),
        Key("show_metrics", "M", "show_metrics", "metrics pane"),
        Key("sort", "s", "sort_pick", "sort by a column (pick it by its number)"),
        Key("sort_reverse", "S", "sort_reverse", "reverse the sort"),
        Key("columns", "o", "choose_columns", "choose columns: params, metrics, best/min/max"),
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
        Key("mark_all", "A", "mark_all", "mark / unmark every run shown"),
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
        Key("chart_log", "L", "toggle_log", "log scale on / off"),
        Key("chart_smooth", "W", "toggle_smooth", "smoothing on / off"),
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

# What the footer shows for the pane that has the focus, most useful first, as
# (binding ids, word); it drops words from the end to fit, always ending with FOOTER_TAIL.
FOOTER: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "runs": ((("clone",), "clone"), (("rerun",), "rerun"), (("cancel",), "cancel"),
             (("remove",), "rm"), (("diff",), "diff"), (("compare",), "compare"),
             (("mark",), "mark"), (("mark_all",), "all"), (("sort",), "sort"),
             (("columns",), "columns"), (("fold",), "fold"), (("filter",), "filter"),
             (("show_metrics",), "chart"), (("next_pane",), "pane"), (("edit",), "edit"),
             (("new",), "new"), (("group",), "group"), (("palette",), "commands")),
    "log": ((("log_down", "log_up"), "scroll"), (("log_page_down", "log_page_up"), "page"),
            (("log_search",), "search"), (("log_older", "log_newer"), "match"),
            (("log_follow",), "follow"), (("log_top",), "top"), (("log_back",), "list"),
            (("next_pane",), "pane"), (("clone",), "clone"), (("cancel",), "cancel")),
    "chart": ((("metric_next", "metric_previous"), "metric"), (("chart_log",), "log"),
              (("chart_smooth",), "smooth"), (("chart_back",), "list"),
              (("next_pane",), "pane"), (("compare",), "compare")),
    "compare": ((("metric_next", "metric_previous"), "metric"), (("chart_log",), "log"),
                (("chart_smooth",), "smooth"), (("next_pane",), "table/chart"),
                (("dialog_cancel",), "close")),
}
FOOTER_TAIL = ((("help",), "keys"), (("quit",), "quit"))


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope, each with its id so a keymap can remap it."""
    return [Binding(k.keys, k.action, k.short or k.description, show=k.show, id=k.id,
                    tooltip=k.description) for k in TABLE[scope]]


def effective(keymap: dict[str, str]) -> list[tuple[str, Key, str]]:
    """(scope, binding, keys in force) for every binding, with the user's keymap applied."""
    return [(scope, key, keymap.get(key.id, key.keys)) for scope, keys in TABLE.items()
            for key in keys]


def footer_key(keys: str) -> str:
    """The one key the footer names for a binding: a single character if it has one."""
    names = [k.strip() for k in keys.split(",") if k.strip()]
    short = [k for k in names if len(display(k)) == 1]
    return display((short or names)[0]) if names else ""


def display(keys: str) -> str:
    """`question_mark,ctrl+d` -> `? ctrl+d` (how keys read in the help screen)."""
    names = {"question_mark": "?", "colon": ":", "slash": "/", "space": "space",
             "shift+tab": "shift+tab"}
    return " ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))
