"""Rebuild the ClickHouse projections from the raw event log and swap them in atomically.

Usage::

    journeyline replay                 # bucket count chosen from the log size
    journeyline replay --buckets 64    # smaller INSERT ... SELECTs on a big log

How it works, per projection in PROJECTIONS (today `journeys` and `journey_stages`):

1. A fresh table `<name>__replay` is created with the live table's DDL (`CREATE TABLE .. AS ..`).
2. It is filled bucket by bucket: customers are split by `cityHash64(customer_id) % N`, and each
   bucket is one INSERT ... SELECT per projection, so a GROUP BY holds about 1/N of the log.
3. All fresh tables are swapped in with one `EXCHANGE TABLES` (Atomic database) and the old
   tables dropped. Readers see either the old or the new projection, never a missing table.
4. Catch-up: events the processors wrote while the rebuild ran (Kafka offsets past those seen
   at the start) may have updated only the old tables, so their customers are rebuilt again
   in the live tables.

The SQL computes what services/processors/journey_state.py JourneyState computes: events deduplicated
by event_id per customer (the copy read first from Kafka wins, as the processor counts the first),
per stage first/last occurred_at and unique event count, current stage = stage of the latest
event by (occurred_at, canonical stage order), first/last seen and the number of unique events.

A projection is a `Projection`: its live table and one INSERT ... SELECT over `events` (or an
earlier projection's rows) for the customers in `$where`. A new projection (e.g. feedback items)
is one more entry in PROJECTIONS.

More buckets hold less of the log in memory at once but take longer: each bucket scans `events`
again (hash buckets do not follow the sorting key), which is the price of the bounded memory
(measured in bench/notes.md, Replay).
"""
from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

STAGING_SUFFIX = "__replay"
EVENTS_PER_BUCKET = 500_000  # automatic bucket count: about this many events per INSERT ... SELECT
MAX_BUCKETS = 4096

# One row per (customer, event_id): the copy with the lowest Kafka position, i.e. the one the
# processor read (and counted) first. A customer's events all share one partition. The events of
# one event record (schemas/records.py) share its position, but the processor writes one copy of
# an event per record at most, so positions never tie here.
UNIQUE_EVENTS = """
    SELECT customer_id, event_id,
           argMin(occurred_at, (kafka_partition, kafka_offset)) AS at,
           argMin(stage, (kafka_partition, kafka_offset)) AS st
    FROM events
    WHERE $where
    GROUP BY customer_id, event_id
"""
_PLACEHOLDER = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Projection:
    """A table rebuilt from `events`. `select` yields the table's columns in `columns` order, for
    the customers matching `$where`, with `{version:UInt64}` as the row version. It reads `events`
    or, as `$<table>`, a projection earlier in the list (its rebuilt rows for those customers)."""

    table: str
    columns: tuple[str, ...]
    select: str

    @property
    def staging(self) -> str:
        return self.table + STAGING_SUFFIX

    def insert_sql(self, target: str, where: str, sources: dict[str, str]) -> str:
        # Identifiers and filters are code constants; values travel as query parameters.
        def fill(match: re.Match) -> str:
            name = match[1]
            if name == "where":
                return where
            if name not in sources:
                raise ValueError(f"projection {self.table} reads ${name}, which is not built before it")
            return sources[name]

        return f"INSERT INTO {target} ({', '.join(self.columns)}) " + _PLACEHOLDER.sub(fill, self.select)


JOURNEY_STAGES = Projection(
    "journey_stages",
    ("customer_id", "stage", "first_at", "last_at", "events", "version"),
    f"""
    SELECT customer_id, st, min(at), max(at), count(), {{version:UInt64}}
    FROM ({UNIQUE_EVENTS})
    GROUP BY customer_id, st
    """,
)
# From the customer's stage rows, far less work than reading the events again. The latest
# event by (occurred_at, stage) is the max over stages of (stage's last_at, stage).
JOURNEYS = Projection(
    "journeys",
    ("customer_id", "current_stage", "first_seen_at", "last_seen_at", "events", "version"),
    """
    SELECT customer_id, argMax(stage, (last_at, stage)), min(first_at), max(last_at), sum(events),
           {version:UInt64}
    FROM $journey_stages
    WHERE $where
    GROUP BY customer_id
    """,
)
PROJECTIONS: tuple[Projection, ...] = (JOURNEY_STAGES, JOURNEYS)

BUCKET_FILTER = "cityHash64(customer_id) % {buckets:UInt64} = {bucket:UInt64}"
# Customers with an event past the Kafka offsets seen when the replay started (-1: a partition
# that had no events then). A record's events are written by one insert, so none of the record at
# the mark can arrive after it.
CATCH_UP_FILTER = """customer_id IN (
    SELECT customer_id FROM events
    WHERE toInt64(kafka_offset) > if(has({parts:Array(UInt32)}, kafka_partition),
                                     {offsets:Array(Int64)}[indexOf({parts:Array(UInt32)}, kafka_partition)], -1)
)"""


@dataclass
class ReplayResult:
    buckets: int
    events: int
    rows: dict[str, int] = field(default_factory=dict)  # projection table -> rows rebuilt
    caught_up_customers: int = 0
    seconds: float = 0.0


# (buckets done, buckets in all): called once a bucket is written to every projection.
Progress = Callable[[int, int], None]


def choose_buckets(events: int) -> int:
    return min(MAX_BUCKETS, max(1, math.ceil(events / EVENTS_PER_BUCKET)))


def _offsets(client: Client) -> dict[str, list[int]]:
    rows = client.query("SELECT kafka_partition, max(kafka_offset) FROM events GROUP BY kafka_partition").result_rows
    return {"parts": [int(p) for p, _ in rows], "offsets": [int(o) for _, o in rows]}


def _drop_staging(client: Client, projections: Sequence[Projection]) -> None:
    for projection in projections:
        client.command(f"DROP TABLE IF EXISTS {projection.staging}")


def replay(
    client: Client,
    buckets: int | None = None,
    projections: Sequence[Projection] = PROJECTIONS,
    progress: Progress | None = None,
    before_swap: Callable[[], None] | None = None,
) -> ReplayResult:
    """Rebuild `projections` from `events` into fresh tables, swap them in, drop the old ones.

    `before_swap` runs after the fresh tables are filled (tests use it to race the processors).
    On failure the live tables are untouched and the fresh ones are dropped.
    """
    if buckets is not None and buckets < 1:
        raise ValueError("buckets must be at least 1")
    # All statements up front: a projection reading one not built before it fails here.
    build, catch_up, staged, live = [], [], {}, {}
    for p in projections:
        build.append(p.insert_sql(p.staging, BUCKET_FILTER, staged))
        catch_up.append(p.insert_sql(p.table, CATCH_UP_FILTER, live))
        staged[p.table], live[p.table] = p.staging, f"{p.table} FINAL"

    started = time.monotonic()
    version = time.time_ns()  # later processor writes (time_ns at their batch) win over these rows
    marks = _offsets(client)
    events = int(client.query("SELECT count() FROM events").result_rows[0][0])
    buckets = buckets or choose_buckets(events)
    result = ReplayResult(buckets=buckets, events=events)

    _drop_staging(client, projections)  # left over by an interrupted replay
    try:
        for p in projections:
            client.command(f"CREATE TABLE {p.staging} AS {p.table}")
        for bucket in range(buckets):
            for sql in build:
                client.command(sql, parameters={"buckets": buckets, "bucket": bucket, "version": version})
            if progress:
                progress(bucket + 1, buckets)
        for p in projections:
            result.rows[p.table] = int(client.query(f"SELECT count() FROM {p.staging}").result_rows[0][0])
        if before_swap:
            before_swap()
        client.command("EXCHANGE TABLES " + ", ".join(f"{p.table} AND {p.staging}" for p in projections))
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error, not a cleanup one
            _drop_staging(client, projections)
        raise
    _drop_staging(client, projections)  # now holding the old projections

    # Processor writes that went to the old tables during the rebuild: redo those customers.
    result.caught_up_customers = int(client.query(
        f"SELECT uniqExact(customer_id) FROM events WHERE {CATCH_UP_FILTER}", parameters=marks
    ).result_rows[0][0])
    if result.caught_up_customers:
        for sql in catch_up:
            client.command(sql, parameters={**marks, "version": version + 1})
    result.seconds = time.monotonic() - started
    return result
