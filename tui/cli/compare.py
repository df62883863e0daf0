"""`tui compare ID... | --group G`: runs side by side as a results table (text, JSON, CSV or
Markdown), and the results options of `tui status` (`--columns`, `--sort`, `--best`).

The table itself (which columns, their values, the best of each, the order, mean ± sd over
seeds) is tui.runlist.results and tui.runlist.groups, which the app's run list uses too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import sys

from core import config as configuration
from core.errors import ExitCode, UnknownRun, UsageError
from core.paths import StorePaths
from core.store import queries as run_queries
from core.store import metric_queries
from tui import formatting
from tui.cli.output import SCHEMA, say
from tui.cli.runs import need_reader, search_line
from tui.formatting import STATE_GLYPHS
from tui.runlist import groups as run_groups
from tui.runlist import results
from tui.runlist.columns import plain
from tui.runlist.rows import RunRow

BEST_MARK = "*"
BUILTIN_SORTS = ("id", "name", "state")


def run(args, paths: StorePaths) -> int:
    conn = need_reader(paths)
    rows, group = _selected(conn, args)
    sort = args.sort
    if sort is None and group is not None and group["kind"] == "search" and \
            any(group["spec"]["objective"]["metric"] in r.metrics for r in rows):
        sort = group["spec"]["objective"]["metric"]        # a search's trials, best first
    table = ResultsTable.build(conn, rows, args.columns, sort, args.reverse, _better())
    if args.json:
        sys.stdout.write(json.dumps(table.as_json(group)) + "\n")
    elif args.csv:
        sys.stdout.write(table.as_csv())
    elif args.markdown:
        print(table.as_markdown(group))
    else:
        print(table.as_text(group, mark_best=True, bold=_bold()))
    return ExitCode.OK


def status(conn: sqlite3.Connection, args) -> int:
    """`tui status` with --columns, --sort or --best: the listed runs as a results table
    (with --json: the usual JSON, in the order --sort gives)."""
    texts = run_queries.runs_json(conn, args.state, args.all, args.group)
    rows = [RunRow.from_json(json.loads(text)) for text in texts]
    if not rows:
        say("no runs" + ("" if args.all else " to show (tui status --all lists every run)"))
        return ExitCode.OK
    table = ResultsTable.build(conn, rows, args.columns, args.sort, args.reverse, _better(),
                               lead=("id", "state", "name", "target", "gpus", "elapsed"))
    if args.json:
        order = {row.id: i for i, row in enumerate(table.rows)}
        texts.sort(key=lambda text: order[json.loads(text)["id"]])
        groups = run_queries.groups_of_runs(conn, args.state, args.all, args.group)
        sys.stdout.write('{"schema": %d, "runs": [%s], "groups": %s}\n'
                         % (SCHEMA, ",".join(texts), json.dumps(groups)))
        return ExitCode.OK
    if args.group is not None:
        search_line(conn, args.group)
    print(table.as_text(None, mark_best=args.best, bold=args.best and _bold(), seeds=False))
    return ExitCode.OK


def _better() -> results.Better:
    """`[results] better` from the config of the project we are in (defaults without one)."""
    loaded = configuration.load(configuration.find_project(os.getcwd()))
    return results.Better.from_config(loaded.better)


def _bold() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _selected(conn: sqlite3.Connection, args) -> tuple[list[RunRow], dict | None]:
    if not args.ids and args.group is None:
        raise UsageError("tui compare: name the runs, or a group",
                         hint="tui compare 7 8 9, or tui compare --group 3 (a sweep's id or "
                              "name, as tui status --json lists in groups)")
    group = _group(conn, args.group) if args.group is not None else None
    ids = [run_queries.resolve_id(conn, text) for text in args.ids]
    data = run_queries.runs_json_by_id(conn, ids) if ids else []
    if group is not None:
        found = [json.loads(text) for text in
                 run_queries.runs_json(conn, all_runs=True, group=group["id"])]
        data += [d for d in found if d["id"] not in set(ids)]
    if not data:
        raise UnknownRun(f"group {group['id']} has no runs" if group else "no runs to compare",
                         hint="list runs with: tui status --all")
    return [RunRow.from_json(d) for d in data], group


def _group(conn: sqlite3.Connection, text: str) -> dict:
    """A group by id, or by name (the newest of that name)."""
    groups = run_queries.groups_json(conn)
    if text.isdigit():
        found = [g for g in groups if g["id"] == int(text)]
    else:
        found = [g for g in groups if g["name"] == text][-1:]
    if not found:
        known = ", ".join(f"{g['id']} ({g['name']})" for g in groups[-10:])
        raise UnknownRun(f"no group {text!r}", hint=f"groups: {known}" if known else
                         "launch a sweep with: tui launch --sweep lr=0.1,0.01 -- COMMAND")
    return found[0]


class ResultsTable:
    """Runs (rows) by columns, with values, the best of each metric column, in order."""

    def __init__(self, rows: list[RunRow], columns: list[results.ResultColumn],
                 cells: results.Cells, lead: tuple[str, ...] = ("id", "name", "state"),
                 rank: results.ResultColumn | None = None):
        self.rows = rows
        self.columns = columns
        self.cells = cells
        self.lead = lead
        self.best = results.best_ids(rows, columns, cells)
        # The metric a group's best value and the seeds' order go by: the sort column if
        # it is a metric, else the first metric column.
        self.rank = rank if rank is not None and rank.is_metric else \
            next((c for c in columns if c.is_metric), None)

    @classmethod
    def build(cls, conn, rows: list[RunRow], column_texts: list[str], sort: str | None,
              reverse: bool, better: results.Better,
              lead: tuple[str, ...] = ("id", "name", "state")) -> "ResultsTable":
        columns = results.parse_columns(column_texts, rows)
        sort_column = None
        if sort and sort not in BUILTIN_SORTS:
            sort_column = results.column_named(sort, rows)
            if sort_column.name not in {c.name for c in columns}:
                columns.append(sort_column)
        wanted = results.needs_extremes(columns)
        extremes = metric_queries.metric_extremes(conn, [r.id for r in rows], wanted) \
            if wanted else {}
        cells = results.Cells(extremes, better)
        rows = _ordered(rows, sort, sort_column, cells, reverse)
        return cls(rows, columns, cells, lead, sort_column)

    # ------------------------------------------------------------ text

    def texts(self, column: results.ResultColumn, mark_best: bool) -> list[str]:
        """The cells of one column as shown: numbers aligned on the decimal point, the
        best value followed by `*`."""
        shown = [plain(results.cell_text(self.cells(r, column))) for r in self.rows]
        if results.all_numbers(self.cells(r, column) for r in self.rows):
            left, right = formatting.decimal_widths(shown)
            shown = [formatting.align_decimal(t, left, right) for t in shown]
        if mark_best and column.is_metric:
            best = self.best.get(column.name, set())
            shown = [t + (BEST_MARK if r.id in best else " ") for t, r in zip(shown, self.rows)]
        return shown

    def as_text(self, group: dict | None, mark_best: bool, bold: bool = False,
                seeds: bool = True) -> str:
        lines = [self._group_line(group)] if group else []
        headers = [LEAD_TITLES[name] for name in self.lead] + [plain(c.name) for c in self.columns]
        lead = [[plain(_lead(r, name)) for name in self.lead] for r in self.rows]
        body = [self.texts(c, mark_best) for c in self.columns]
        grid = [lead[i] + [col[i] for col in body] for i in range(len(self.rows))]
        right = {i for i, name in enumerate(self.lead) if name == "id"} | \
            set(range(len(self.lead), len(headers)))
        strong = set()
        if bold:
            for j, column in enumerate(self.columns):
                best = self.best.get(column.name, set())
                strong |= {(i, len(self.lead) + j) for i, r in enumerate(self.rows) if r.id in best}
        lines.append(_grid_text(headers, grid, right, strong))
        over_seeds = self._seeds() if seeds else []
        if over_seeds:
            lines += ["", self._seed_text(over_seeds)]
        return "\n".join(lines)

    def _group_line(self, group: dict) -> str:
        summary = self.summary()
        line = f"{group['kind']} {group['id']} {plain(group['name'] or '')} · {summary.size} " \
               f"runs: {summary.counts_text()}"
        rank = self.rank
        if summary.best is not None and rank is not None:
            value, run_id = summary.best
            line += f" · best {plain(rank.name)} {results.cell_text(value)} (run {run_id})"
        return line

    def summary(self) -> run_groups.GroupSummary:
        return run_groups.summarize(self.rows, self.rank, self.cells, self.columns)

    def _seeds(self) -> list[run_groups.SeedGroup]:
        if len(self.rows) < 2:
            return []
        return self.summary().seeds

    def _seed_text(self, seeds: list[run_groups.SeedGroup]) -> str:
        seed = run_groups.seed_param(self.rows)
        keys = [c.key for c in self.columns if c.kind == "param" and c.key != seed]
        metrics = [c for c in self.columns if c.is_metric]
        headers = [*(plain(k) for k in keys), "runs",
                   *(f"{plain(c.name)} (mean ± sd)" for c in metrics)]
        grid = [[plain(results.cell_text(g.params.get(k))) for k in keys]
                + [str(len(g.run_ids))] + [g.spreads[c.name].text() for c in metrics]
                for g in seeds]
        seed = plain(seed or "?")
        return f"over {seed} (runs that differ only in {seed}):\n" + \
            formatting.table(headers, grid, right=set(range(len(keys), len(headers))))

    # ------------------------------------------------------------ machines

    def as_json(self, group: dict | None) -> dict:
        seeds = self._seeds()
        out = {
            "schema": SCHEMA,
            "columns": [_column_json(c, self.cells) for c in self.columns],
            "runs": [{"id": r.id, "name": r.name, "state": r.state.value, "group": r.group,
                      "params": r.params,
                      "values": {c.name: _json_value(self.cells(r, c)) for c in self.columns}}
                     for r in self.rows],
            "best": {name: sorted(ids) for name, ids in self.best.items()},
            "group": None,
            "seeds": [{"params": g.params, "runs": list(g.run_ids),
                       "values": {name: {"mean": _json_value(s.mean), "sd": _json_value(s.sd),
                                         "n": s.n} for name, s in g.spreads.items()}}
                      for g in seeds],
        }
        if group is not None:
            summary = self.summary()
            out["group"] = {"id": group["id"], "kind": group["kind"], "name": group["name"],
                            "runs": summary.size,
                            "states": {s.value: n for s, n in summary.counts.items()},
                            "state": summary.state.value, "seed": summary.seed}
        return out

    def as_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*self.lead, *(plain(c.name) for c in self.columns)])
        for row in self.rows:
            writer.writerow([_lead_raw(row, name) for name in self.lead]
                            + [_csv_value(self.cells(row, c)) for c in self.columns])
        return buffer.getvalue()

    def as_markdown(self, group: dict | None) -> str:
        lines = [self._group_line(group), ""] if group else []
        headers = [LEAD_TITLES[name] for name in self.lead] + [c.name for c in self.columns]
        lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
        lines.append("|" + "|".join("---:" if i >= len(self.lead) or name == "id" else "---"
                                    for i, name in enumerate(
                                        [*self.lead, *(c.name for c in self.columns)])) + "|")
        for row in self.rows:
            cells = [_lead(row, name) for name in self.lead]
            for column in self.columns:
                text = results.cell_text(self.cells(row, column))
                if row.id in self.best.get(column.name, ()):
                    text = f"**{text}**"
                cells.append(text)
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        seeds = self._seeds()
        if seeds:
            lines += ["", "```", self._seed_text(seeds), "```"]
        return "\n".join(lines)


LEAD_TITLES = {"id": "ID", "name": "NAME", "state": "STATE", "target": "TARGET",
               "gpus": "GPUS", "elapsed": "ELAPSED"}


def _lead(row: RunRow, name: str) -> str:
    if name == "id":
        return str(row.id)
    if name == "name":
        return plain(row.name)
    if name == "state":
        return f"{STATE_GLYPHS[row.state.value]} {row.state.value}"
    if name == "target":
        return plain(row.target)
    if name == "gpus":
        return ",".join(map(str, row.gpu_ids)) or "-"
    return formatting.duration(formatting.elapsed(row.started_at, row.finished_at))


def _lead_raw(row: RunRow, name: str):
    return row.state.value if name == "state" else _lead(row, name)


def _ordered(rows: list[RunRow], sort: str | None, column, cells: results.Cells,
             reverse: bool) -> list[RunRow]:
    if column is not None:
        descending = cells.best_first(column) != reverse
        return sorted(rows, key=results.rank_key(lambda r: cells(r, column), descending))
    if sort == "name":
        return sorted(rows, key=lambda r: (r.name.lower(), r.id), reverse=reverse)
    if sort == "state":
        order = {s: i for i, s in enumerate(run_groups.WORST_FIRST)}
        return sorted(rows, key=lambda r: (order[r.state], r.id), reverse=reverse)
    return sorted(rows, key=lambda r: r.id, reverse=reverse)


def _column_json(column: results.ResultColumn, cells: results.Cells) -> dict:
    out = {"name": column.name, "kind": column.kind, "key": column.key}
    if column.is_metric:
        out["summary"] = column.summary
        out["better"] = "lower" if cells.better.lower(column.key) else "higher"
    return out


def _json_value(value):
    return metric_queries.json_number(value) if isinstance(value, float) else value


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(_json_value(value)) if value != value or value in (float("inf"),
                                                                      float("-inf")) \
            else repr(value)
    return plain(str(value))


def _md(text: str) -> str:
    return plain(text).replace("|", "\\|")


def _grid_text(headers: list[str], grid: list[list[str]], right: set[int],
               strong: set[tuple[int, int]]) -> str:
    """Aligned columns (cells already made plain); `strong` cells (row, column) in bold."""
    widths = [len(h) for h in headers]
    for cells in grid:
        for j, cell in enumerate(cells):
            widths[j] = max(widths[j], len(cell))

    def line(cells, row=None):
        parts = []
        for j, cell in enumerate(cells):
            text = cell.rjust(widths[j]) if j in right else cell.ljust(widths[j])
            if (row, j) in strong:
                text = f"\x1b[1m{text}\x1b[22m"
            parts.append(text)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(cells, i) for i, cells in enumerate(grid))])
