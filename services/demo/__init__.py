"""Deterministic demo touchpoint events for Journeyline.

Three small businesses that use the product, plus a share of a larger brand, one module each:

- ``cafe_lina``      "Café Lina" (:mod:`.cafe`), a one-person café.
- ``studio_mira``    "Studio Mira" (:mod:`.salon`), a hair and beauty salon.
- ``northwind_goods`` "Northwind Goods" (:mod:`.shop`), an online shop selling in EUR, USD and GBP.
- ``helix_mobile``   "Helix Mobile" (:mod:`.brand`), a larger mobile operator.

``generate()`` returns JSON-ready dicts (``occurred_at`` as RFC 3339 ``...Z``)
that validate against :class:`schemas.events.TouchpointEvent`, sorted by time.
The output depends only on ``customers``, ``seed`` and ``now``: each customer's
journey is drawn from its own random stream (seeded with the seed and the
customer id), so a customer's events do not change when ``customers`` grows.
Every event's ``properties.business`` names the business it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import brand, cafe, salon, shop
from .common import BUSINESSES, WINDOW_DAYS, Business, Journey, PastNow

__all__ = ["BUSINESSES", "Business", "WINDOW_DAYS", "generate"]

# Customers are assigned to businesses by cycling through this pattern, so any
# three consecutive customers from the start cover the three small businesses.
# Share: café 35 %, salon 25 %, shop 30 %, larger brand 10 %.
_ASSIGNMENT = (
    "cafe_lina",
    "studio_mira",
    "northwind_goods",
    "cafe_lina",
    "northwind_goods",
    "studio_mira",
    "cafe_lina",
    "helix_mobile",
    "northwind_goods",
    "cafe_lina",
    "studio_mira",
    "northwind_goods",
    "cafe_lina",
    "studio_mira",
    "northwind_goods",
    "cafe_lina",
    "helix_mobile",
    "northwind_goods",
    "studio_mira",
    "cafe_lina",
)

_JOURNEYS: dict[str, Callable[[Journey], None]] = {
    "cafe_lina": cafe.run_journey,
    "studio_mira": salon.run_journey,
    "northwind_goods": shop.run_journey,
    "helix_mobile": brand.run_journey,
}


def generate(customers: int = 300, seed: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    """Demo events for ``customers`` customers over the ``WINDOW_DAYS`` days before ``now``.

    ``now`` defaults to the current UTC time truncated to the hour (so calls within the
    same hour agree); a naive ``now`` is taken as UTC. Every event is at or before ``now``.
    Event ids are ``<business>-s<seed>-<customer number>-<sequence>``.
    """
    if customers < 0:
        raise ValueError("customers must be >= 0")
    if now is None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC).replace(microsecond=0)

    numbers: dict[str, int] = {key: 0 for key in BUSINESSES}
    events: list[dict[str, Any]] = []
    for i in range(customers):
        key = _ASSIGNMENT[i % len(_ASSIGNMENT)]
        numbers[key] += 1
        journey = Journey(BUSINESSES[key], numbers[key], seed, now)
        try:
            _JOURNEYS[key](journey)
        except PastNow:
            pass  # the journey continues after `now`: it is cut here
        events.extend(journey.events)
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return events
