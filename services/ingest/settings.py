"""Ingest service settings, read from the environment."""
from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from schemas.events import MAX_BATCH_EVENTS, Channel
from services.common.http_guard import HttpLimitSettings
from services.common.settings import ClickHouseSettings, KafkaSettings, LoggingSettings


class IngestSettings(KafkaSettings, ClickHouseSettings, LoggingSettings, HttpLimitSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    write_keys: str = Field(
        "dev-write-key",
        description="Comma-separated write keys; 'key=source' names the source stamped on events. Bootstrap "
        "and development keys: they work without ClickHouse, next to the keys of `journeyline keys create`",
    )
    # Store keys (ClickHouse access_keys) are looked up per request; lookups are cached at most this long,
    # which bounds how long a revoked key keeps working. ClickHouse unreachable: store keys get 503.
    access_key_cache_s: float = Field(1.0, ge=0, le=1)
    clickhouse_timeout_s: int = Field(3, ge=1, description="Connect/read timeout of key lookups, seconds")
    # Per write key, in this process: a token bucket of events (429 + Retry-After when empty). 0: no limit.
    rate_limit_events_per_s: float = Field(5000.0, ge=0)
    rate_limit_burst: int = Field(20000, ge=MAX_BATCH_EVENTS, description="At least one full batch")
    max_body_bytes: int = 1024 * 1024
    # How long a request waits for the broker's acknowledgement before answering 503.
    produce_timeout_s: float = 10.0
    retry_after_s: int = 5
    kafka_request_timeout_ms: int = 5000
    kafka_linger_ms: int = 5
    kafka_compression: str | None = Field(None, description="gzip, lz4, zstd or none")
    kafka_max_batch_bytes: int = 512 * 1024
    create_topics: bool = True
    # Events dated further ahead than this are refused (clock errors, not real touchpoints).
    max_future_hours: float = Field(24.0, gt=0)

    # Segment-compatible endpoints (services/ingest/segment): event-name rules, replacing the built-in
    # default_rules.yaml, and the channel of calls whose properties, rule and context name none.
    segment_rules_file: str | None = None
    segment_default_channel: Channel = Channel.web

    @property
    def max_future(self) -> timedelta:
        return timedelta(hours=self.max_future_hours)

    def key_sources(self) -> dict[str, str]:
        pairs = {}
        for item in filter(None, (part.strip() for part in self.write_keys.split(","))):
            key, _, source = item.partition("=")
            pairs[key] = source or "default"
        return pairs
