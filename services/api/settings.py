"""Settings of the query API, from environment variables (API_HOST, READ_TOKENS, CLICKHOUSE_URL,
KAFKA_BOOTSTRAP_SERVERS, ...). Kafka is only for publishing feedback status changes."""
from __future__ import annotations

from pydantic import Field, field_validator

from services.common.http_guard import HttpLimitSettings
from services.common.settings import ClickHouseSettings, KafkaSettings, LoggingSettings

DEFAULT_READ_TOKEN = "dev-read-token"


class ApiSettings(ClickHouseSettings, KafkaSettings, LoggingSettings, HttpLimitSettings):
    api_host: str = Field("127.0.0.1", description="Interface uvicorn binds to")
    api_port: int = Field(8000, ge=1, le=65535)
    read_tokens: str = Field(
        DEFAULT_READ_TOKEN,
        description="Comma-separated bearer tokens accepted on /v1/*; blanks around commas are ignored",
    )
    access_key_cache_s: float = Field(
        1.0, ge=0, le=1, description="How long read-token lookups in ClickHouse are cached (bounds revocation delay)"
    )
    api_query_timeout_seconds: float = Field(
        30.0, gt=0, description="ClickHouse max_execution_time for each query the API runs"
    )
    # The query side under load (services/api/load.py).
    api_queries_max: int = Field(4, ge=1, description="Analyst requests running at once, all tokens together")
    api_queries_per_token: int = Field(2, ge=1, description="Analyst requests running at once per token")
    api_query_wait_s: float = Field(2.0, ge=0, description="How long a request waits for a slot: then 429 or 503")
    api_request_deadline_s: float = Field(
        30.0, gt=0, description="A /v1 request's whole life, waiting included: 503 past it, its queries killed")
    api_query_max_memory_bytes: int = Field(2 << 30, ge=1 << 20, description="ClickHouse max_memory_usage per query")
    api_query_max_result_rows: int = Field(1_000_000, ge=1000, description="ClickHouse max_result_rows per query")
    api_query_threads: int = Field(2, ge=1, description="ClickHouse max_threads per analyst query")
    api_query_nice: int = Field(
        19, ge=0, le=19, description="Linux nice value of analyst query threads (os_threads_nice_value_query), "
        "so the processors' writes keep their pace; 0 leaves it")
    api_query_priority: int = Field(
        10, ge=0, description="ClickHouse `priority` of analyst queries: they pause while a query or insert of a "
        "smaller number runs (the embedded server runs what asks for none at 1); 0 leaves it")
    api_retry_after_s: int = Field(2, ge=1, description="Retry-After of 429/503 answers under load")
    api_max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest /v1 request body (413 past it); read only after the token is checked")
    api_log_level: str = Field("info", description="uvicorn log level")
    # A status change waits this long for the broker's acknowledgement before answering 503.
    feedback_publish_timeout_s: float = Field(10.0, gt=0)
    feedback_retry_after_s: int = Field(5, ge=1, description="Retry-After of a 503 from the broker being down")

    @field_validator("read_tokens")
    @classmethod
    def _some_token(cls, value: str) -> str:
        if not [t for t in value.split(",") if t.strip()]:
            raise ValueError("READ_TOKENS must list at least one non-empty token")
        return value

    @property
    def read_token_list(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.read_tokens.split(",") if t.strip())
