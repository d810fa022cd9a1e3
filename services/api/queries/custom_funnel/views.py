"""Outer SQL over the per-customer paths, one per view, and the shaping of their rows."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from services.api.queries.base import UTC
from services.api.queries.custom_funnel.model import (
    MAX_BREAKDOWN_VALUES,
    OTHER_VALUE,
    BreakdownSteps,
    FunnelStep,
    FunnelTrend,
    TimeToConvertBin,
)


def _aggregates(n: int, state: bool) -> list[str]:
    counts = [f"countIf(level >= {k})" for k in range(1, n + 1)]
    fn = "quantileExactInclusiveIfState" if state else "quantileExactInclusiveIf"
    medians = [f"{fn}(0.5)(reach[{k}] - reach[{k - 1}], level >= {k})" for k in range(2, n + 1)]
    return counts + medians


def steps_sql(n: int, paths: str) -> str:
    return f"SELECT {', '.join(_aggregates(n, state=False))} FROM ({paths})"


def breakdown_sql(n: int, paths: str) -> str:
    """Per value states, ranked by step-1 customers then value; values past the cap merge into
    (other); GROUPING SETS adds the all-customers row (grouping(value) = 1)."""
    inner = ", ".join(f"{a} AS a{i}" for i, a in enumerate(_aggregates(n, state=True)))
    merged = [f"sum(a{i})" for i in range(n)] + [
        f"quantileExactInclusiveIfMerge(0.5)(a{i})" for i in range(n, 2 * n - 1)
    ]
    return f"""
SELECT grouping(value), value, min(rk), {', '.join(merged)}
FROM
(
    SELECT if(rk <= {MAX_BREAKDOWN_VALUES}, bval, '{OTHER_VALUE}') AS value, *
    FROM
    (
        SELECT *, row_number() OVER (ORDER BY a0 DESC, bval ASC) AS rk
        FROM (SELECT bval, {inner} FROM ({paths}) GROUP BY bval)
    )
)
GROUP BY GROUPING SETS ((value), ())
"""


def _median_seconds(value: float | None, customers: int) -> float | None:
    if value is None or customers == 0 or math.isnan(value):
        return None
    return value / 1000


def shape_steps(names: list[str], row: tuple | list) -> list[FunnelStep]:
    n = len(names)
    counts = [int(c) for c in row[:n]]
    medians = [None, *row[n:]]
    return [
        FunnelStep(
            name=names[k],
            customers=counts[k],
            conversion_from_first=counts[k] / counts[0] if counts[0] else 0.0,
            conversion_from_previous=(counts[k] / counts[k - 1] if counts[k - 1] else 0.0) if k
            else (1.0 if counts[0] else 0.0),
            median_seconds_from_previous=_median_seconds(medians[k], counts[k]),
        )
        for k in range(n)
    ]


def shape_breakdown(names: list[str], rows: list[tuple]) -> tuple[list[FunnelStep], list[BreakdownSteps]]:
    total = [0] * len(names) + [math.nan] * (len(names) - 1)
    values = []
    for row in rows:
        if row[0]:
            total = row[3:]
        else:
            values.append((row[2], row[1], row[3:]))
    values.sort()
    return shape_steps(names, total), [BreakdownSteps(value=v, steps=shape_steps(names, r)) for _, v, r in values]


def time_to_convert_sql(n: int, paths: str) -> str:
    """Durations in ms; bins of whole seconds from the shortest (rounded down) on, at most
    {bins:UInt32} of them; counted in SQL so no per-customer row leaves ClickHouse."""
    return f"""
SELECT cnt, av, med, lo, w, arrayMap(i -> countEqual(bin_of, i), range(toUInt64(intDiv(mx - lo + w, w))))
FROM
(
    SELECT count() AS cnt, min(d) AS mn, max(d) AS mx, avg(d) AS av, quantileExactInclusive(0.5)(d) AS med,
           groupArray(d) AS ds, intDiv(mn, 1000) * 1000 AS lo,
           greatest(toInt64(1), intDiv(mx - lo + {{bins:UInt32}} * 1000, {{bins:UInt32}} * 1000)) * 1000 AS w,
           arrayMap(x -> intDiv(x - lo, w), ds) AS bin_of
    FROM (SELECT reach[{n}] - t1 AS d FROM ({paths}) WHERE level = {n})
)
"""


def shape_time_to_convert(row: tuple) -> dict[str, Any]:
    cnt, av, med, lo, w, counts = row
    if not cnt:
        return {"converted": 0, "median_seconds": None, "average_seconds": None, "bins": []}
    lo_s, w_s = int(lo) // 1000, int(w) // 1000
    bins = [TimeToConvertBin(from_seconds=lo_s + i * w_s, to_seconds=lo_s + (i + 1) * w_s, customers=int(c))
            for i, c in enumerate(counts)]
    return {"converted": int(cnt), "median_seconds": med / 1000, "average_seconds": av / 1000, "bins": bins}


_PERIOD = {"day": "toDate", "week": "toMonday", "month": "toStartOfMonth"}


def trends_sql(n: int, interval: str, paths: str) -> str:
    period = f"{_PERIOD[interval]}(fromUnixTimestamp64Milli(t1 + {{start_ms:Int64}}, 'UTC'))"
    return f"SELECT {period} AS p, count(), countIf(level = {n}) FROM ({paths}) GROUP BY p"


def period_start(moment: datetime, interval: str) -> date:
    day = moment.astimezone(UTC).date()
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def next_period(day: date, interval: str) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    if interval == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def shape_trends(rows: list[tuple], start: datetime, end: datetime, interval: str) -> list[FunnelTrend]:
    found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    last = period_start(end - timedelta(microseconds=1), interval)
    day, out = period_start(start, interval), []
    while True:
        entered, converted = found.get(day, (0, 0))
        out.append(FunnelTrend(
            interval_start=datetime(day.year, day.month, day.day, tzinfo=UTC), entered=entered,
            converted=converted, conversion_rate=converted / entered if entered else 0.0))
        if day >= last:  # stop before stepping past the last period: after 9999-12 there is none
            return out
        day = next_period(day, interval)


def customers_sql(paths: str, status: str) -> str:
    cond = "level >= {step:UInt8} + 1" if status == "converted" else "level = {step:UInt8}"
    return f"SELECT customer_id, level, t1 FROM ({paths}) WHERE {cond} ORDER BY customer_id LIMIT {{limit:UInt32}}"
