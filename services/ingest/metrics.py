"""The ingest service's Prometheus metrics, served at /metrics (services/common/metrics.py)."""
from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from services.common.metrics import new_registry

# Why a request was refused: validation 422, unauthorized 401, too_large 413, rate_limited 429,
# bad_request 400 (a Segment call that is not Segment's shape), broker_unavailable and
# key_store_unavailable 503.
REFUSALS = ("validation", "unauthorized", "too_large", "rate_limited", "bad_request", "broker_unavailable",
            "key_store_unavailable")


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = new_registry()
        self.events_accepted = Counter(
            "journeyline_ingest_events_accepted", "Events acknowledged by the broker, by write-key source",
            ["source"], registry=self.registry)
        self.identities_accepted = Counter(
            "journeyline_ingest_identities_accepted",
            "Identity links (identify and alias calls) acknowledged by the broker, by write-key source",
            ["source"], registry=self.registry)
        self.refused = Counter(
            "journeyline_ingest_requests_refused", "Requests refused, by reason", ["reason"], registry=self.registry)
        self.segment_dead_lettered = Counter(
            "journeyline_ingest_segment_dead_lettered",
            "Segment calls sent to the dead-letter topic, by kind of reason", ["kind"], registry=self.registry)
        for reason in REFUSALS:  # every reason shows, at 0, from the first scrape
            self.refused.labels(reason)

    def accepted(self, source: str, events: int = 0, identities: int = 0) -> None:
        if events:
            self.events_accepted.labels(source).inc(events)
        if identities:
            self.identities_accepted.labels(source).inc(identities)

    def dead_lettered(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self.segment_dead_lettered.labels(kind).inc()
