"""What every demo journey shares: the businesses, the per-customer :class:`Journey`
(its random stream, clock and event builder) and small drawing helpers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

WINDOW_DAYS = 90


@dataclass(frozen=True)
class Business:
    key: str
    name: str
    customer_prefix: str
    event_prefix: str
    utc_offset_hours: float
    currency: str

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))


BUSINESSES: dict[str, Business] = {
    b.key: b
    for b in (
        Business("cafe_lina", "Café Lina", "cafe-cust", "cafe", 1, "EUR"),
        Business("studio_mira", "Studio Mira", "salon-cust", "salon", 1, "EUR"),
        Business("northwind_goods", "Northwind Goods", "shop-cust", "shop", 0, "GBP"),
        Business("helix_mobile", "Helix Mobile", "brand-cust", "brand", 1, "EUR"),
    )
}


class PastNow(Exception):
    """The next event would be after `now`."""


HourFn = Callable[[random.Random], float]


class Journey:
    """One customer's journey: its own random stream, a clock and the events so far."""

    def __init__(self, business: Business, number: int, seed: int, now: datetime) -> None:
        self.business = business
        self.number = number
        self.customer_id = f"{business.customer_prefix}-{number:04d}"
        self.id_prefix = f"{business.event_prefix}-s{seed}-{number:04d}"
        # str seeds are hashed with SHA-512: stable across processes and PYTHONHASHSEED.
        self.rng = random.Random(f"journeyline-demo:{seed}:{self.customer_id}")
        self.now = now
        self.tz = business.tz
        self.t: datetime | None = None
        self.events: list[dict[str, Any]] = []
        self.stages: set[str] = set()
        self._last: datetime | None = None
        # A web visitor's browser id; until they sign in, their events carry only this.
        self.anonymous_id: str | None = None
        self.signed_in = True

    def browse_anonymously(self) -> None:
        self.anonymous_id = f"{self.business.event_prefix}-web-{self.rng.getrandbits(40):010x}"
        self.signed_in = False

    # -- time ---------------------------------------------------------------------

    def local(self, day: date, hour: float) -> datetime:
        hour = min(max(hour, 0.0), 23.999)
        start = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        return (start + timedelta(seconds=round(hour * 3600))).astimezone(UTC)

    def start(
        self, hour_fn: HourFn, earliest_days_ago: float = WINDOW_DAYS - 1, latest_days_ago: float = 2
    ) -> datetime:
        """First touch: a day in the window, at a plausible local hour."""
        # Skewed towards the start of the window: most journeys have room to unfold.
        days_ago = latest_days_ago + (earliest_days_ago - latest_days_ago) * self.rng.random() ** 0.6
        day = (self.now - timedelta(days=days_ago)).astimezone(self.tz).date()
        first = self.local(day, hour_fn(self.rng))
        window_start = self.now - timedelta(days=WINDOW_DAYS)
        if first < window_start:
            first = self.local(day + timedelta(days=1), hour_fn(self.rng))
        self.t = first
        return first

    def minutes(self, low: float, high: float) -> datetime:
        assert self.t is not None
        return self.t + timedelta(minutes=self.rng.uniform(low, high))

    def hours(self, low: float, high: float) -> datetime:
        """Some hours later, moved out of the night (people act between 7:00 and 23:30)."""
        assert self.t is not None
        when = self.t + timedelta(hours=self.rng.uniform(low, high))
        local = when.astimezone(self.tz)
        hour = local.hour + local.minute / 60
        if hour < 7:
            return self.local(local.date(), self.rng.uniform(7, 9))
        if hour >= 23.5:
            return self.local(local.date() + timedelta(days=1), self.rng.uniform(7, 9))
        return when

    def day_after(
        self, min_days: int, max_days: int, hour_fn: HourFn, weekdays: tuple[int, ...] | None = None
    ) -> datetime:
        """A later day (``min_days``..``max_days`` after the current one) at a local hour."""
        assert self.t is not None
        day = self.t.astimezone(self.tz).date() + timedelta(days=self.rng.randint(min_days, max_days))
        for _ in range(14):
            if weekdays is None or day.weekday() in weekdays:
                when = self.local(day, hour_fn(self.rng))
                if when > self.t:
                    return when
            day += timedelta(days=1)
        return self.t + timedelta(days=1)

    # -- events -------------------------------------------------------------------

    def emit(
        self,
        when: datetime,
        stage: str,
        channel: str,
        touchpoint: str,
        event: str,
        properties: dict[str, Any] | None = None,
        *,
        revenue: float | None = None,
        currency: str | None = None,
        feedback: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        when = when.astimezone(UTC).replace(microsecond=0)
        if self._last is not None and when <= self._last:
            when = self._last + timedelta(seconds=self.rng.randint(15, 180))
        if when > self.now:
            raise PastNow()
        self.t = when
        self._last = when
        record: dict[str, Any] = {
            "event_id": f"{self.id_prefix}-{len(self.events) + 1:03d}",
            "customer_id": self.customer_id,
            "stage": stage,
            "channel": channel,
            "touchpoint": touchpoint,
            "event": event,
            "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {"business": self.business.key, **(properties or {})},
        }
        if self.anonymous_id is not None and channel in ("web", "social", "other"):
            # The site's tracker sends its browser id; after sign-in, with the customer's id.
            record["anonymous_id"] = self.anonymous_id
            if not self.signed_in:
                del record["customer_id"]
        if revenue is not None:
            record["revenue"] = round(revenue, 2)
            record["currency"] = currency or self.business.currency
        elif currency is not None:
            record["currency"] = currency
        if feedback:
            record["feedback"] = {k: v for k, v in feedback.items() if v is not None}
        self.events.append(record)
        self.stages.add(stage)
        return record

    def friend_recommendation(self) -> None:
        """Awareness by word of mouth, at the journey's first touch."""
        assert self.t is not None
        self.emit(self.t, "awareness", "other", "word_of_mouth", "friend_recommendation", {})

    # -- feedback -----------------------------------------------------------------

    def nps(self, mood: float, shift: float = 0.0) -> int:
        return int(min(10, max(0, round(mood * 10 + shift + self.rng.gauss(0, 1.3)))))

    def csat_for(self, nps: int) -> int:
        return int(min(5, max(1, round(1 + nps * 0.4 + self.rng.gauss(0, 0.45)))))

    def rating_for(self, nps: int) -> int:
        return int(min(5, max(1, round(nps / 2 + self.rng.gauss(0, 0.5)))))

    def comment(self, pools: dict[str, list[str]], nps: int, chance: float = 0.6) -> str | None:
        if self.rng.random() >= chance:
            return None
        band = "detractor" if nps <= 6 else "passive" if nps <= 8 else "promoter"
        return self.rng.choice(pools[band])


# --------------------------------------------------------------------------------------
# Drawing helpers


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def pick(rng: random.Random, weighted: dict[Any, float]) -> Any:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def pick_row(rng: random.Random, table: dict[Any, tuple[Any, ...]], weight_column: int) -> Any:
    """A key of ``table`` drawn with the weights in column ``weight_column`` of its rows."""
    return pick(rng, {key: row[weight_column] for key, row in table.items()})


def draw_mood(rng: random.Random) -> float:
    """Overall satisfaction 0..1 (mean ~0.7): drives NPS, CSAT, ratings and advocacy."""
    return rng.betavariate(5, 2.2)


def browse_hour(rng: random.Random) -> float:
    """When people browse on their phones: lunch break, evenings, else any waking hour."""
    slot = rng.random()
    if slot < 0.25:
        return clamp(rng.gauss(12.5, 0.8), 7, 23.9)
    if slot < 0.75:
        return clamp(rng.gauss(20.5, 1.4), 7, 23.9)
    return rng.uniform(7, 23.9)


def office_hour(rng: random.Random) -> float:
    return rng.uniform(9, 17.5)
