"""Events to load from a file: JSON Lines (one event per line) or CSV (a till's or a spreadsheet's
export, one event per row). Each source keeps ``line_of``, the line of each item it yields, so a
refusal without an event_id can be named by its line.

CSV: the header names the event fields: event_id, customer_id, anonymous_id, stage, channel, touchpoint,
event, occurred_at, revenue, currency; `properties` (a JSON object) and/or `properties.<key>` columns
(text values); feedback as `nps`, `csat`, `ces`, `rating`, `comment` or `feedback.<score>`. Empty
cells are absent fields. Other columns are sent as they are, so ingest refuses them by name.
Rows that cannot be read become :class:`Unparsable` (refused by the loader, never sent).
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

from services.client.loader import Unparsable

FEEDBACK = ("nps", "csat", "ces", "rating", "comment")
NUMBERS = {"revenue": float, "nps": int, "csat": int, "ces": int, "rating": int}


class JsonLines:
    """Events from JSON Lines, one item per non-blank line: unparsable lines come as
    :class:`Unparsable` (refused by the loader, not sent)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.line_of: list[int] = []

    def __iter__(self) -> Iterator[Any]:
        for number, line in enumerate(self.lines, start=1):
            if not line.strip():
                continue
            self.line_of.append(number)
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Unparsable(f"invalid JSON: {exc}")


class CsvEvents:
    """Events from CSV lines; ``line_of`` maps the loader's input index to the row's line number."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.line_of: list[int] = []

    def __iter__(self) -> Iterator[Any]:
        reader = csv.DictReader(self.lines)
        for row in reader:
            self.line_of.append(reader.line_num)
            try:
                yield event_of(row)
            except ValueError as exc:
                yield Unparsable(str(exc))


def event_of(row: dict[str | None, Any]) -> dict[str, Any]:
    if None in row:
        raise ValueError(f"more cells than the header has columns: {row[None]!r}")
    event: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    feedback: dict[str, Any] = {}
    for column, cell in row.items():
        if cell is None or cell == "":
            continue
        name = column.strip()
        if name == "properties":
            value = _json_object(cell)
            properties = {**value, **properties}
        elif name.startswith("properties."):
            properties[name.removeprefix("properties.")] = cell
        elif name in FEEDBACK or name.startswith("feedback."):
            score = name.removeprefix("feedback.")
            feedback[score] = _number(score, cell)
        else:
            event[name] = _number(name, cell)
    if properties:
        event["properties"] = properties
    if feedback:
        event["feedback"] = feedback
    return event


def _number(name: str, cell: str) -> Any:
    kind = NUMBERS.get(name)
    if kind is None:
        return cell
    try:
        return kind(cell.strip())
    except ValueError:
        return cell  # sent as text: ingest refuses it, naming the field


def _json_object(cell: str) -> dict[str, Any]:
    try:
        value = orjson.loads(cell)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"properties is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("properties must be a JSON object")
    return value


def open_events(path: str) -> tuple[JsonLines | CsvEvents, IO[str], int | None]:
    """The source for ``path`` ('-': stdin; ``.csv``: CSV, else JSON Lines), its open file (the
    caller closes it unless it is stdin) and its event count when it can be counted (not stdin).
    Raises OSError when the file cannot be read."""
    total: int | None = None
    if path == "-":
        handle: IO[str] = sys.stdin
    else:
        handle = open(path, encoding="utf-8", errors="replace", newline="")
        total = sum(1 for line in handle if line.strip())
        handle.seek(0)
    if path.lower().endswith(".csv"):
        total = None if total is None else max(total - 1, 0)  # the header row
        return CsvEvents(handle), handle, total
    return JsonLines(handle), handle, total
