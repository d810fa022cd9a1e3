"""The processors' Prometheus metrics, served by Faust's web server at /metrics (web.py).

One worker per process, so the metrics are module-level, in this module's own registry.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common.metrics import LATENCY_BUCKETS, new_registry

REGISTRY = new_registry()

EVENTS_WRITTEN = Counter(
    "journeyline_sink_events_written", "Events inserted into ClickHouse (copies already there left out)",
    registry=REGISTRY)
BATCH_EVENTS = Histogram(
    "journeyline_sink_batch_events", "Events in each batch written to ClickHouse",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000), registry=REGISTRY)
WRITE_SECONDS = Histogram(
    "journeyline_sink_write_duration_seconds",
    "Time to write a batch to ClickHouse (events, journeys, links), retries included", buckets=LATENCY_BUCKETS,
    registry=REGISTRY)
DEAD_LETTERED = Counter(
    "journeyline_processor_dead_lettered", "Records sent to the dead-letter topic, by kind of reason",
    ["kind"], registry=REGISTRY)
IDENTITY_LINKS_WRITTEN = Counter(
    "journeyline_identity_links_written", "Identity links inserted into ClickHouse (identify calls and events)",
    registry=REGISTRY)

REFUSED_BY_CLICKHOUSE = "refused_by_clickhouse"  # valid events ClickHouse will not store (events_sink.py)
for _kind in ("invalid_event", "undecodable", REFUSED_BY_CLICKHOUSE):
    DEAD_LETTERED.labels(_kind)

# (topic, partition, highwater, committed offset or None) for each assigned partition.
Positions = Callable[[], Iterable[tuple[str, int, int | None, int | None]]]


class ConsumerLag(Collector):
    """journeyline_consumer_lag{topic, partition}: records on the partition not yet committed by this
    worker (highwater minus committed offset), read from the consumer at each scrape."""

    def __init__(self, positions: Positions) -> None:
        self._positions = positions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("journeyline_consumer_lag", "Records not yet processed and committed, by partition",
                                labels=["topic", "partition"])
        for topic, partition, highwater, committed in self._positions():
            if highwater is not None:  # known after the first fetch from the partition
                lag.add_metric([topic, str(partition)], max(0, highwater - (committed or 0)))
        yield lag
