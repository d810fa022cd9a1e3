"""Step and exclusion filters as SQL conditions on `events` rows.

SQL text comes only from constants here; every user value (event names, property keys and
values, the breakdown key) is bound as a `{name:Type}` parameter. Identical filters share
their parameters, hence one SQL expression that ClickHouse evaluates once per row.
"""
from __future__ import annotations

from typing import Any

from services.api.queries.base import STAGE_ORDINAL
from services.api.queries.custom_funnel.model import StepFilter

_NUMBER_TYPES = "('Int64', 'UInt64', 'Double')"


def _property_condition(key: str, value: Any, prefix: str, params: dict[str, Any]) -> str:
    k, v = f"{prefix}k", f"{prefix}v"
    params[k] = key
    if isinstance(value, bool):  # before int: bool is an int in Python
        params[v] = value
        return (f"(JSONType(properties, {{{k}:String}}) = 'Bool'"
                f" AND JSONExtractBool(properties, {{{k}:String}}) = {{{v}:Bool}})")
    if isinstance(value, int | float):
        params[v] = float(value)
        return (f"(JSONType(properties, {{{k}:String}}) IN {_NUMBER_TYPES}"
                f" AND JSONExtractFloat(properties, {{{k}:String}}) = {{{v}:Float64}})")
    params[v] = value
    return (f"(JSONType(properties, {{{k}:String}}) = 'String'"
            f" AND JSONExtractString(properties, {{{k}:String}}) = {{{v}:String}})")


def _json_kind(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "number" if isinstance(value, int | float) else "string"


def disjoint(f: StepFilter, g: StepFilter) -> bool:
    """True when no event can match both: some field both constrain to different values."""
    a, b = dict(f.conditions()), dict(g.conditions())
    for field in a.keys() & b.keys():
        x, y = a[field], b[field]
        if field.startswith("properties."):
            if _json_kind(x) != _json_kind(y) or (x != y if _json_kind(x) != "number" else float(x) != float(y)):
                return True
        elif x != y:
            return True
    return False


def one_step_per_event(filters: list[StepFilter]) -> bool:
    """Whether every event matches at most one of the filters."""
    return all(disjoint(f, g) for i, f in enumerate(filters) for g in filters[i + 1:])


class FilterSql:
    """Collects conditions and their parameters; `condition(f)` gives one filter's SQL."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._by_key: dict[tuple, str] = {}

    def condition(self, f: StepFilter) -> str:
        key = tuple((field, repr(value)) for field, value in f.conditions())
        if key in self._by_key:
            return self._by_key[key]
        prefix = f"f{len(self._by_key)}"
        parts = []
        for i, (field, value) in enumerate(f.conditions()):
            name = f"{prefix}_{i}"
            if field == "stage":
                self.params[name] = STAGE_ORDINAL[value.value]
                parts.append(f"toUInt8(stage) = {{{name}:UInt8}}")
            elif field in ("event", "channel", "touchpoint"):
                self.params[name] = getattr(value, "value", value)
                parts.append(f"{field} = {{{name}:String}}")
            else:
                parts.append(_property_condition(field.removeprefix("properties."), value, name, self.params))
        sql = "(" + " AND ".join(parts) + ")"
        self._by_key[key] = sql
        return sql

    def mask(self, filters: list[StepFilter]) -> str:
        """UInt32 with bit i set when the row matches filters[i]."""
        return "toUInt32(" + " + ".join(
            f"bitShiftLeft(toUInt32({self.condition(f)}), {i})" for i, f in enumerate(filters)
        ) + ")" if filters else "toUInt32(0)"

    def breakdown(self, breakdown: str) -> str:
        """String value of the breakdown for a row: a column, or a property's JSON value as text
        (strings as they are, '' when absent or null, other values as JSON)."""
        if breakdown in ("channel", "touchpoint", "stage", "event"):
            return f"toString({breakdown})"
        self.params["bkey"] = breakdown.removeprefix("properties.")
        k = "{bkey:String}"
        return (f"multiIf(JSONType(properties, {k}) = 'String', JSONExtractString(properties, {k}),"
                f" JSONType(properties, {k}) = 'Null', '', JSONExtractRaw(properties, {k}))")
