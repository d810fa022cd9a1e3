"""Request dependencies shared by the routers."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clickhouse_connect.driver.client import Client
from fastapi import HTTPException, Request, status

from services.api.settings import ApiSettings

log = logging.getLogger(__name__)


class ClickHouseHolder:
    """The app's one ClickHouse client, created on first need and kept.

    Lifespan tries to create it at start-up; if ClickHouse is down then, the API still starts
    (healthz answers 503) and the next request tries again.
    """

    def __init__(self, factory: Callable[[], Client]) -> None:
        self._factory = factory
        self._client: Client | None = None
        self._lock = threading.Lock()

    def get(self) -> Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
                client = self._client
        return client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def get_clickhouse(request: Request) -> Client:
    try:
        return request.app.state.clickhouse.get()
    except Exception as exc:  # connection refused, auth, migrations...
        log.warning("ClickHouse unavailable: %s", exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="ClickHouse unavailable") from exc


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings
