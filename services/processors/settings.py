"""Processor settings, read from the environment."""
from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field

from services.common.settings import ClickHouseSettings, KafkaSettings, LoggingSettings


class ProcessorSettings(KafkaSettings, ClickHouseSettings, LoggingSettings):
    # Static group membership: a restarted worker takes its partitions back at once instead
    # of waiting out the dead member's session. Must be unique per worker; default: hostname.
    processor_instance_id: str = Field(default_factory=lambda: f"processor-{socket.gethostname()}")
    processor_data_dir: str = Field("var/processors", description="Faust worker state directory")
    # A batch closes at batch_size events or batch_within_s seconds, whichever comes first. With a
    # backlog, batches are full: bigger inserts cost ClickHouse less per event (bench/notes.md,
    # Pipeline). Without one, the time closes them: a short wait keeps events fresh.
    batch_size: int = Field(5000, ge=1)
    batch_within_s: float = Field(0.25, gt=0)
    # ClickHouse write retries back off exponentially up to this many seconds, forever.
    sink_max_backoff_s: float = 10.0
    # A worker that dies without leaving the group (SIGKILL, a lost host) keeps its partitions this
    # long before the group hands them to the others; Faust's own default is a minute.
    broker_session_timeout_s: float = 10.0
    # Exactly once into ClickHouse comes from the idempotent sink (docs/exactly-once.md), not from Kafka
    # transactions, which cannot cover a ClickHouse insert; exactly_once is here to measure what they cost.
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    broker_heartbeat_interval_s: float = 3.0
    # Faust's web server: /metrics (Prometheus), /healthz and /readyz (services/processors/web.py).
    web_port: int = 6066
    # A worker whose table recovery stands still this long exits to be restarted (watchdog.py).
    recovery_stall_s: float = Field(120.0, gt=0)
    # Detractor alerts (services/processors/alerts.py): events with NPS at or under this.
    alert_nps_max: int = Field(6, ge=0, le=10)
    # Optional: each alert is also POSTed here as JSON (best effort, see alerts.py).
    alert_webhook_url: str | None = None
    alert_webhook_timeout_s: float = Field(3.0, gt=0)
