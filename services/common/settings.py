"""Settings fields shared by the services; each service has its own class built on these."""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list")
    topic_touchpoints: str = "journeyline.touchpoints.v1"
    topic_dead_letter: str = "journeyline.touchpoints.dlq"
    topic_feedback_status: str = "journeyline.feedback-status.v1"
    topic_alerts: str = "journeyline.alerts.v1"
    topic_identities: str = "journeyline.identities.v1"
    topic_partitions: int = Field(6, ge=1)
    topic_replication: int = Field(1, ge=1)
    # Copies a write needs before the broker acknowledges it (acks=all); default: 2 from replication 3 on.
    topic_min_insync_replicas: int | None = Field(None, ge=1)
    # The processors' consumer group, and the prefix of their table's changelog topic.
    processor_app_id: str = "journeyline-processors"

    @property
    def min_insync_replicas(self) -> int:
        if self.topic_min_insync_replicas is not None:
            return self.topic_min_insync_replicas
        return max(1, min(2, self.topic_replication - 1))

    @property
    def topic_journeys_changelog(self) -> str:
        return f"{self.processor_app_id}-journeys-changelog"  # Faust's name for the `journeys` table's


class ClickHouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    clickhouse_url: str = Field("http://127.0.0.1:8123", description="http(s)://host:port of ClickHouse")
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    clickhouse_database: str = "journeyline"
    # The identity dictionary reads its source table as this user; empty means ClickHouse's
    # passwordless `default` (the embedded server). Set it where `default` has a password.
    clickhouse_dictionary_user: str = ""
    clickhouse_dictionary_password: str = ""


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # json: one JSON object a line (time, level, logger, message, service), for log shippers;
    # text: the same fields as a plain line, for people at a terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: str = Field("info", description="Root log level: debug, info, warning, error")
