"""Ingest service settings, read from the environment."""
from __future__ import annotations

from pydantic import Field

from services.common.settings import KafkaSettings


class IngestSettings(KafkaSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    write_keys: str = Field(
        "dev-write-key",
        description="Comma-separated write keys; 'key=source' names the source stamped on events",
    )
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

    def key_sources(self) -> dict[str, str]:
        pairs = {}
        for item in filter(None, (part.strip() for part in self.write_keys.split(","))):
            key, _, source = item.partition("=")
            pairs[key] = source or "default"
        return pairs
