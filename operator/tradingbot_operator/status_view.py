"""How ``ploy status`` shows TradingBots: a table that fits the terminal, or the objects as JSON or YAML.

The status is read through :class:`~tradingbot_operator.model.TradingBotStatus`, the model the operator
writes, so the CLI and the operator cannot disagree about a field. The table is described once, as
:data:`COLUMNS`: each column says how to get its cell from a :class:`BotRow` and whether it shows only
with ``-o wide`` (like kubectl's extra columns). A new column (e.g. an analysis measurement) is one more
entry there. Widths: rich sizes the columns to the console (the terminal width that ``shutil`` reports,
or ``COLUMNS``); the name column is never shortened, the message column gives way first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml
from pydantic import ValidationError
from rich.console import Console, ConsoleOptions, Group, OverflowMethod, RenderResult
from rich.table import Table
from rich.text import Text

from tradingbot_operator.model import ConditionType, TradingBotStatus

PHASE_STYLE = {"Healthy": "green", "Progressing": "yellow", "Degraded": "red", "Paused": "blue"}
RESULT_STYLE = {"Successful": "green", "Failed": "red", "Inconclusive": "yellow"}


class Output(StrEnum):
    """The ``-o`` choices: the table, the table with every column, or the objects as read."""

    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"


@dataclass(frozen=True)
class BotRow:
    """One TradingBot as the table sees it: its name and its status, parsed.

    ``status`` is None and ``problem`` says why when the object's status does not parse (an operator of
    another version wrote it, or it was edited by hand); the row still shows, with its name.
    """

    name: str
    status: TradingBotStatus
    problem: str | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> BotRow:
        """The row of a TradingBot object as the API returns it (a mapping with metadata and status)."""
        name = str((obj.get("metadata") or {}).get("name", "?"))
        try:
            return cls(name, TradingBotStatus.model_validate(dict(obj.get("status") or {})))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            return cls(name, TradingBotStatus(), problem=f"status unreadable: {where}: {first['msg']}")


Cell = Callable[[BotRow], "str | Text"]


@dataclass(frozen=True)
class Column:
    """A table column: its ``header``, how to get its ``cell`` from a row, whether it shows only with
    ``-o wide``, and whether it ``grow``s: takes the width left over, cut with an ellipsis (folded in the
    wide view). The others are cut with an ellipsis only when the terminal is too narrow; NAME never."""

    header: str
    cell: Cell
    wide_only: bool = False
    grow: bool = False


def _phase(row: BotRow) -> Text:
    phase = str(row.status.phase or "Pending") if row.problem is None else "?"
    return Text(phase, style=PHASE_STYLE.get(phase, ""))


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _last_rollout(row: BotRow) -> str:
    last = row.status.last_rollout
    return f"{last.result} {last.revision}" if last else "-"


def _stage(row: BotRow) -> str:
    rollout = row.status.rollout
    return f"{rollout.stage} {rollout.revision}" if rollout else "-"


def _message(row: BotRow) -> Text:
    if row.problem:
        return Text(row.problem, style="red")
    return Text(row.status.message or "")


NAME = Column("NAME", lambda row: row.name)
COLUMNS: tuple[Column, ...] = (
    NAME,
    Column("PHASE", _phase),
    Column("ACTIVE", lambda row: _or_dash(row.status.active_color)),
    Column("EPOCH", lambda row: str(row.status.epoch)),
    Column("ACTIVE REV", lambda row: _or_dash(row.status.active_revision)),
    Column("PREVIEW REV", lambda row: _or_dash(row.status.preview_revision), wide_only=True),
    Column("STABLE REV", lambda row: _or_dash(row.status.stable_revision), wide_only=True),
    Column("ROLLOUT", _stage, wide_only=True),
    Column("LAST ROLLOUT", _last_rollout, wide_only=True),
    # Further columns go here (wide_only=True keeps the default view narrow); MESSAGE stays last.
    Column("MESSAGE", _message, grow=True),
)


def _details(row: BotRow) -> list[Text]:
    """Lines under the table: the steps of a rollout under way, a Degraded condition's reason, and one
    line per metric analysis query of ``status.analysis`` (result, value, why, when)."""
    lines: list[Text] = []
    rollout = row.status.rollout
    if rollout:
        steps = [
            ("started", rollout.started_at),
            ("migrated", rollout.migrated_at),
            ("ready", rollout.ready_since),
            ("baked", rollout.baked_at),
            ("promoted", rollout.promoted_at),
        ]
        line = Text(f"{row.name}: revision {rollout.revision} on {rollout.color}  ")
        for label, when in steps:
            line.append(f"{'✔' if when else '·'} {label}  ", style="green" if when else "dim")
        lines.append(line)
    for cond in row.status.conditions:
        if cond.type == ConditionType.DEGRADED and cond.status == "True":
            lines.append(Text(f"{row.name}: Degraded — {cond.reason}: {cond.message}", style="red"))
    analysis = row.status.analysis
    if analysis is not None:
        for m in analysis.measurements:
            line = Text(f"{row.name}: analysis of {analysis.color} ({analysis.revision}) {m.name} ")
            line.append(str(m.result), style=RESULT_STYLE.get(str(m.result), ""))
            line.append(f" {m.message} at {m.measured_at.isoformat()} (#{m.count})")
            lines.append(line)
    return lines


MIN_MESSAGE_WIDTH = 12
_GAP = 2  # spaces between two columns (padding 1 on each side, no borders, like kubectl)


def _plain(cell: str | Text) -> str:
    return cell if isinstance(cell, str) else cell.plain


@dataclass(frozen=True)
class StatusTable:
    """The table of :data:`COLUMNS`, laid out for the width rich offers when it is printed (the terminal,
    a panel, a live display): every column but MESSAGE gets the width of its content, NAME never less;
    MESSAGE gets the rest, and when less than ``MIN_MESSAGE_WIDTH`` is left the messages go under the
    table, one ``name: message`` line each. Only a terminal too narrow for the other columns cuts them
    (with an ellipsis), never NAME."""

    rows: tuple[BotRow, ...]
    wide: bool = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        columns = [column for column in COLUMNS if self.wide or not column.wide_only]
        cells = [[column.cell(row) for column in columns] for row in self.rows]
        natural = [
            max([len(column.header), *(len(_plain(line[i])) for line in cells)])
            for i, column in enumerate(columns)
        ]
        fixed = sum(width for width, column in zip(natural, columns, strict=True) if not column.grow)
        room = options.max_width - fixed - _GAP * (len(columns) - 1)
        below = room < MIN_MESSAGE_WIDTH
        table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold", expand=False)
        shown = []
        for i, column in enumerate(columns):
            if column.grow:
                if below:
                    continue
                overflow: OverflowMethod = "fold" if self.wide else "ellipsis"
                width = min(room, natural[i])
                table.add_column(column.header, width=width, overflow=overflow, no_wrap=not self.wide)
            elif column is NAME:
                table.add_column(column.header, no_wrap=True, min_width=natural[i])
            else:
                table.add_column(column.header, no_wrap=True, overflow="ellipsis")
            shown.append(i)
        for line in cells:
            table.add_row(*(line[i] for i in shown))
        yield table
        if below:
            for row, line in zip(self.rows, cells, strict=True):
                message = next(line[i] for i, column in enumerate(columns) if column.grow)
                if _plain(message):
                    yield Text(f"{row.name}: ").append_text(
                        Text(message) if isinstance(message, str) else message
                    )


def render(bots: Sequence[Mapping[str, Any]], wide: bool = False) -> Group:
    """A rich view of TradingBot objects: the table (:class:`StatusTable`), then the progress of any
    rollout under way and the reason of any Degraded condition."""
    rows = tuple(BotRow.of(bot) for bot in bots)
    return Group(StatusTable(rows, wide), *(line for row in rows for line in _details(row)))


def dump(bots: Sequence[Mapping[str, Any]], output: Output, single: bool) -> str:
    """The objects as kubectl prints them with ``-o json|yaml``: the object itself when one was asked
    for by name (``single``), else a ``v1`` ``List`` of them."""
    document: Mapping[str, Any] = (
        bots[0] if single and bots else {"apiVersion": "v1", "kind": "List", "items": list(bots)}
    )
    if output is Output.JSON:
        return json.dumps(document, indent=4) + "\n"
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True)
