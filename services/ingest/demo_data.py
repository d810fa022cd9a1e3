"""Deterministic demo touchpoint events for Journeyline.

Three small businesses that use the product, plus a share of a larger brand:

- ``cafe_lina``      "Café Lina", a one-person café: POS and app orders, morning-rush
  and lunch visits, loyalty stamps, app re-orders, receipt/app surveys, Google reviews.
- ``studio_mira``    "Studio Mira", a hair and beauty salon: Instagram discovery,
  bookings in the app or on the website, visits in the salon, offers for regulars
  by email, reviews and tagged stories.
- ``northwind_goods`` "Northwind Goods", an online shop selling in EUR, USD and GBP:
  ads and search, product views, carts, orders, deliveries (some late, with a
  complaint and a goodwill voucher), repeat orders, product reviews.
- ``helix_mobile``   "Helix Mobile", a larger mobile operator: web chat, call centre,
  stores, billing and app events.

``generate()`` returns JSON-ready dicts (``occurred_at`` as RFC 3339 ``...Z``)
that validate against :class:`schemas.events.TouchpointEvent`, sorted by time.
The output depends only on ``customers``, ``seed`` and ``now``: each customer's
journey is drawn from its own random stream (seeded with the seed and the
customer id), so a customer's events do not change when ``customers`` grows.
Every event's ``properties.business`` names the business it belongs to.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

__all__ = ["BUSINESSES", "Business", "WINDOW_DAYS", "generate"]

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
        business = BUSINESSES[key]
        journey = _Journey(business, numbers[key], seed, now)
        try:
            _SCRIPTS[key](journey)
        except _PastNow:
            pass  # the journey continues after `now`: it is cut here
        events.extend(journey.events)
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return events


# --------------------------------------------------------------------------------------
# Journey machinery


class _PastNow(Exception):
    """The next event would be after `now`."""


HourFn = Callable[[random.Random], float]


class _Journey:
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
            raise _PastNow()
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


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _pick(rng: random.Random, weighted: dict[Any, float]) -> Any:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def _mood(rng: random.Random) -> float:
    """Overall satisfaction 0..1 (mean ~0.7): drives NPS, CSAT, ratings and advocacy."""
    return rng.betavariate(5, 2.2)


# --------------------------------------------------------------------------------------
# Café Lina

_CAFE_DRINKS = {  # item: (price EUR, weight)
    "flat white": (3.60, 24),
    "oat latte": (4.10, 20),
    "cappuccino": (3.40, 14),
    "espresso": (2.20, 9),
    "chai latte": (4.20, 7),
    "matcha latte": (4.40, 6),
    "filter coffee": (2.80, 10),
    "hot chocolate": (3.80, 4),
}
_CAFE_BREAKFAST = {
    "cinnamon bun": (3.20, 25),
    "croissant": (2.60, 20),
    "banana bread": (3.50, 14),
    "granola bowl": (6.40, 8),
    "avocado toast": (8.90, 10),
}
_CAFE_LUNCH = {
    "soup of the day": (6.50, 18),
    "grilled cheese sandwich": (7.20, 20),
    "falafel wrap": (8.40, 14),
    "quiche with salad": (9.20, 10),
    "cinnamon bun": (3.20, 12),
}
_CAFE_COMMENTS = {
    "promoter": [
        "Best flat white in the neighbourhood, and Lina remembers my order.",
        "Love the cinnamon buns, always fresh in the morning.",
        "Ordering ahead in the app saves me so much time before work.",
        "Cosy place, friendly service, great oat latte.",
        "The loyalty card is a nice touch, my tenth coffee was free!",
    ],
    "passive": [
        "Good coffee but it gets crowded at lunch.",
        "Nice place, would love more vegan lunch options.",
        "Coffee is great, the app could remember my usual order.",
        "Tasty food, a bit pricey for a weekday lunch.",
    ],
    "detractor": [
        "Queue was out the door at 8am and I was late for work.",
        "My app order wasn't ready when I arrived, waited 10 minutes.",
        "Oat latte was lukewarm today.",
        "They ran out of cinnamon buns again before 9.",
        "Card machine was down and I had no cash.",
    ],
}


def _cafe_hour(preference: str) -> HourFn:
    def hour(rng: random.Random) -> float:
        slot = (
            preference if rng.random() < 0.75 else _pick(rng, {"morning": 55, "lunch": 30, "afternoon": 15})
        )
        if slot == "morning":
            h = rng.gauss(8.3, 0.55)
        elif slot == "lunch":
            h = rng.gauss(12.8, 0.45)
        else:
            h = rng.uniform(14.0, 17.5)
        return _clamp(h, 7.0, 17.9)

    return hour


def _cafe_order(j: _Journey, hour: float, favourite: str, fav_food: str) -> tuple[list[str], float]:
    rng = j.rng
    items: list[str] = []
    total = 0.0
    drink = favourite if rng.random() < 0.8 else _pick(rng, {k: v[1] for k, v in _CAFE_DRINKS.items()})
    items.append(drink)
    total += _CAFE_DRINKS[drink][0]
    foods = _CAFE_LUNCH if 11.5 <= hour < 14.5 else _CAFE_BREAKFAST
    if rng.random() < (0.75 if foods is _CAFE_LUNCH else 0.4):
        food = (
            fav_food
            if fav_food in foods and rng.random() < 0.6
            else _pick(rng, {k: v[1] for k, v in foods.items()})
        )
        items.append(food)
        total += foods[food][0]
    if rng.random() < 0.12:  # a coffee for a colleague
        extra = _pick(rng, {k: v[1] for k, v in _CAFE_DRINKS.items()})
        items.append(extra)
        total += _CAFE_DRINKS[extra][0]
    return items, total


def _cafe(j: _Journey) -> None:
    rng = j.rng
    preference = _pick(rng, {"morning": 55, "lunch": 30, "afternoon": 15})
    hour_fn = _cafe_hour(preference)
    favourite = _pick(rng, {k: v[1] for k, v in _CAFE_DRINKS.items()})
    fav_food = _pick(rng, {k: v[1] for k, v in {**_CAFE_BREAKFAST, **_CAFE_LUNCH}.items()})
    segment = _pick(rng, {"one_off": 35, "occasional": 38, "regular": 27})
    app_user = rng.random() < 0.45
    loyalty = app_user or rng.random() < 0.35
    mood = _mood(rng)

    # Awareness
    j.start(hour_fn)
    source = _pick(rng, {"walk_by": 35, "instagram": 25, "google_maps": 25, "friend": 15})
    if source == "walk_by":
        j.emit(j.t, "awareness", "store", "cafe_storefront", "storefront_walk_in", {"first_visit": True})
    elif source == "instagram":
        j.emit(
            j.t,
            "awareness",
            "social",
            "instagram",
            "post_seen",
            {"post": rng.choice(["latte_art_reel", "cinnamon_bun_post", "new_lunch_menu"])},
        )
    elif source == "google_maps":
        j.emit(
            j.t,
            "awareness",
            "other",
            "google_maps",
            "listing_viewed",
            {"query": rng.choice(["coffee near me", "breakfast cafe", "oat latte"])},
        )
    else:
        j.emit(j.t, "awareness", "other", "word_of_mouth", "friend_recommendation", {})

    # Consideration
    if rng.random() > 0.82:
        return
    if source == "walk_by":
        j.emit(j.minutes(1, 4), "consideration", "store", "cafe_menu_board", "menu_board_viewed", {})
    elif app_user and rng.random() < 0.6:
        j.emit(
            j.hours(0.2, 30),
            "consideration",
            "app",
            "cafe_app",
            "app_installed",
            {"platform": rng.choice(["ios", "android"])},
        )
        j.emit(j.minutes(1, 6), "consideration", "app", "cafe_app", "menu_viewed", {})
    else:
        j.emit(j.hours(0.1, 48), "consideration", "web", "cafe_website", "menu_viewed", {"page": "/menu"})

    # First purchase
    if rng.random() > 0.84:
        return
    visits = {"one_off": 0, "occasional": rng.randint(2, 6), "regular": rng.randint(12, 32)}[segment]
    stamps = 0
    for visit in range(visits + 1):
        if visit == 0:
            when = j.minutes(2, 8) if source == "walk_by" else j.day_after(0, 6, hour_fn)
        else:
            gap = max(1, round(rng.expovariate(1 / (2.5 if segment == "regular" else 10))))
            when = j.day_after(gap, gap, hour_fn)
        stage = "purchase" if visit == 0 else "retention"
        local_hour = when.astimezone(j.tz).hour + when.astimezone(j.tz).minute / 60
        items, total = _cafe_order(j, local_hour, favourite, fav_food)
        props: dict[str, Any] = {"item": items[0], "items": items, "visit_number": visit + 1}
        via_app = app_user and rng.random() < 0.55
        if via_app:
            props["order_type"] = "app_pickup"
            name = "app_order_placed" if visit == 0 else "app_reorder"
            j.emit(when, stage, "app", "cafe_app", name, props, revenue=total)
            j.emit(
                j.minutes(4, 12),
                "use",
                "store",
                "cafe_counter",
                "order_picked_up",
                {"item": items[0], "wait_min": rng.randint(0, 6)},
            )
        else:
            dine_in = rng.random() < 0.4
            props["order_type"] = "dine_in" if dine_in else "takeaway"
            props["payment"] = _pick(rng, {"card": 70, "contactless_phone": 20, "cash": 10})
            j.emit(when, stage, "pos", "cafe_counter_pos", "order_completed", props, revenue=total)
            if dine_in:
                j.emit(
                    j.minutes(15, 55),
                    "use",
                    "store",
                    "cafe_seating",
                    "table_stay",
                    {"duration_min": rng.randint(15, 55)},
                )
        if loyalty and visit > 0:  # the stamp card comes out on the second visit
            if stamps == 0:
                channel, touchpoint = ("app", "cafe_app") if via_app else ("pos", "cafe_counter_pos")
                j.emit(
                    j.minutes(0.1, 1),
                    "retention",
                    channel,
                    touchpoint,
                    "loyalty_joined",
                    {"programme": "10th coffee free"},
                )
            stamps += 1
            channel, touchpoint = ("app", "cafe_app") if via_app else ("pos", "cafe_counter_pos")
            j.emit(
                j.minutes(0.1, 1),
                "retention",
                channel,
                touchpoint,
                "loyalty_stamp",
                {"stamps": stamps % 10 or 10},
            )
            if stamps % 10 == 0:
                j.emit(
                    j.minutes(0.1, 1),
                    "retention",
                    channel,
                    touchpoint,
                    "loyalty_reward_redeemed",
                    {"item": favourite, "reward": "free drink"},
                )
        # Occasional feedback: in-app prompt or the survey link on the receipt.
        if rng.random() < (0.16 if app_user else 0.07):
            nps = j.nps(mood, shift=rng.choice([0, 0, 0, -3]))
            channel, touchpoint = ("app", "cafe_app_survey") if app_user else ("email", "receipt_survey")
            j.emit(
                j.hours(0.5, 6),
                "use",
                channel,
                touchpoint,
                "feedback_submitted",
                {"item": items[0]},
                feedback={"nps": nps, "csat": j.csat_for(nps), "comment": j.comment(_CAFE_COMMENTS, nps)},
            )
        # Advocacy: regulars who like it talk about it.
        if visit >= 2 and "advocacy" not in j.stages and rng.random() < (0.07 if mood > 0.7 else 0.015):
            nps = j.nps(mood)
            if rng.random() < 0.6:
                j.emit(
                    j.hours(1, 30),
                    "advocacy",
                    "other",
                    "google_maps",
                    "google_review_posted",
                    {"item": favourite},
                    feedback={
                        "rating": j.rating_for(nps),
                        "comment": j.comment(_CAFE_COMMENTS, nps, chance=0.9),
                    },
                )
            else:
                j.emit(
                    j.hours(1, 48),
                    "advocacy",
                    "app",
                    "cafe_app",
                    "friend_referred",
                    {"referral_code": f"LINA-{j.number:04d}"},
                )


# --------------------------------------------------------------------------------------
# Studio Mira

_SALON_SERVICES = {  # service: (price EUR, minutes, weight)
    "women's cut & blow-dry": (58.0, 60, 26),
    "men's cut": (32.0, 30, 20),
    "colour": (95.0, 120, 14),
    "balayage": (160.0, 180, 8),
    "blow-dry": (35.0, 45, 10),
    "gel manicure": (40.0, 50, 12),
    "brow lamination": (45.0, 45, 10),
}
_SALON_STYLISTS = ("Mira", "Jonas", "Elif")
_SALON_OFFERS = (
    "15% off your next colour",
    "free treatment with any cut",
    "bring a friend: 20% off for both",
)
_SALON_COMMENTS = {
    "promoter": [
        "Mira is a genius with balayage, exactly what I asked for.",
        "So relaxing, and booking in the app took 30 seconds.",
        "Best cut I've had in years, already booked the next one.",
        "Lovely team, great coffee while you wait.",
    ],
    "passive": [
        "Good cut, but the appointment started 15 minutes late.",
        "Nice result, a bit expensive for a blow-dry.",
        "Happy overall, parking nearby is a pain.",
    ],
    "detractor": [
        "Colour came out much darker than discussed.",
        "Waited 25 minutes past my booking time.",
        "Booking app showed a free slot that didn't exist.",
        "Felt rushed, the stylist was double-booked.",
    ],
}


def _salon_hour(rng: random.Random) -> float:
    return rng.randint(18, 36) / 2  # on the half hour, 9:00–18:00


def _browse_hour(rng: random.Random) -> float:
    slot = rng.random()
    if slot < 0.25:
        return _clamp(rng.gauss(12.5, 0.8), 7, 23.9)
    if slot < 0.75:
        return _clamp(rng.gauss(20.5, 1.4), 7, 23.9)
    return rng.uniform(7, 23.9)


_SALON_DAYS = (1, 2, 3, 4, 5)  # Tuesday–Saturday


def _office_hour(rng: random.Random) -> float:
    return rng.uniform(9, 17.5)


def _salon(j: _Journey) -> None:
    rng = j.rng
    service = _pick(rng, {k: v[2] for k, v in _SALON_SERVICES.items()})
    stylist = rng.choice(_SALON_STYLISTS)
    mood = _mood(rng)
    regular = rng.random() < 0.6
    booking_channel = _pick(rng, {"app": 60, "web": 40})

    # Awareness: mostly Instagram, sometimes several touches.
    j.start(_browse_hour)
    source = _pick(rng, {"instagram": 60, "google_maps": 25, "friend": 15})
    if source == "instagram":
        for n in range(rng.choice([1, 1, 2, 3])):
            when = j.t if n == 0 else j.day_after(1, 6, _browse_hour)
            name = rng.choice(["reel_viewed", "post_seen", "profile_visited"]) if n else "reel_viewed"
            j.emit(
                when,
                "awareness",
                "social",
                "instagram",
                name,
                {"content": rng.choice(["before_after_balayage", "team_intro", "nail_art", "price_update"])},
            )
    elif source == "google_maps":
        j.emit(j.t, "awareness", "other", "google_maps", "listing_viewed", {"query": "hair salon near me"})
    else:
        j.emit(j.t, "awareness", "other", "word_of_mouth", "friend_recommendation", {})

    # Consideration
    if rng.random() > 0.75:
        return
    if source == "instagram":
        j.emit(j.minutes(0.1, 3), "consideration", "social", "instagram", "account_followed", {})
        if rng.random() < 0.4:
            j.emit(
                j.hours(0.2, 20), "consideration", "social", "instagram", "dm_enquiry", {"service": service}
            )
    j.emit(
        j.hours(0.1, 40),
        "consideration",
        "web",
        "studio_mira_website",
        "price_list_viewed",
        {"service": service},
    )
    if booking_channel == "app":
        j.emit(
            j.minutes(2, 90),
            "consideration",
            "app",
            "studio_mira_booking",
            "availability_checked",
            {"service": service},
        )

    # Booking (purchase)
    if rng.random() > 0.75:
        return
    price, duration, _ = _SALON_SERVICES[service]
    channel, touchpoint = (
        ("app", "studio_mira_booking") if booking_channel == "app" else ("web", "studio_mira_website")
    )
    j.emit(
        j.minutes(1, 30),
        "purchase",
        channel,
        touchpoint,
        "appointment_booked",
        {"service": service, "stylist": stylist, "duration_min": duration},
        revenue=price,
    )

    last_start = 19 - duration / 60  # the salon closes at 19:00

    def slot_hour(r: random.Random) -> float:
        return min(_salon_hour(r), int(last_start * 2) / 2)

    visits_planned = 1 + (rng.randint(1, 3) if regular else 0)
    visits_done = 0
    for visit in range(visits_planned):
        appointment = j.day_after(
            2 if visit == 0 else 0, 12 if visit == 0 else 3, slot_hour, weekdays=_SALON_DAYS
        )
        if rng.random() < 0.05:
            j.emit(
                appointment,
                "purchase",
                "app",
                "studio_mira_booking",
                "appointment_no_show",
                {"service": service},
            )
            if visit == 0:
                return
            continue
        if (appointment - j.t) > timedelta(hours=30):
            j.emit(
                appointment - timedelta(hours=24, minutes=rng.randint(0, 90)),
                "purchase",
                channel,
                touchpoint,
                "appointment_reminder_sent",
                {"service": service, "stylist": stylist},
            )
        visits_done += 1
        j.emit(
            appointment,
            "use",
            "store",
            "studio_mira_salon",
            "appointment_attended",
            {"service": service, "stylist": stylist, "visit_number": visits_done},
        )
        if rng.random() < 0.22:
            product = rng.choice(["repair shampoo", "curl cream", "heat protect spray", "cuticle oil"])
            j.emit(
                j.minutes(duration - 5, duration + 5),
                "purchase",
                "pos",
                "studio_mira_pos",
                "retail_product_sold",
                {"item": product},
                revenue=rng.choice([18.0, 22.0, 24.5, 12.0]),
            )
        more = visit + 1 < visits_planned
        # Regulars either rebook at the desk on the way out or later get the regulars' offer.
        rebook_at_desk = more and rng.random() >= 0.45
        if rebook_at_desk:
            checkout = max(j.t, appointment + timedelta(minutes=duration))
            j.emit(
                checkout + timedelta(minutes=rng.uniform(1, 8)),
                "retention",
                "store",
                "studio_mira_salon",
                "rebooking_made",
                {"service": service, "stylist": stylist, "weeks_ahead": rng.randint(4, 8)},
                revenue=price,
            )
        if service in ("colour", "balayage", "brow lamination") and rng.random() < 0.7:
            j.emit(
                j.hours(2, 6), "use", "email", "aftercare_email", "aftercare_tips_sent", {"service": service}
            )
        if rng.random() < 0.35:
            nps = j.nps(mood)
            j.emit(
                j.hours(3, 30),
                "use",
                "email",
                "post_visit_survey",
                "visit_feedback",
                {"service": service, "stylist": stylist},
                feedback={"csat": j.csat_for(nps), "nps": nps, "comment": j.comment(_SALON_COMMENTS, nps)},
            )
        if visits_done >= 1 and rng.random() < (0.18 if mood > 0.7 else 0.04) and "advocacy" not in j.stages:
            nps = j.nps(mood)
            if rng.random() < 0.55:
                j.emit(
                    j.hours(4, 72),
                    "advocacy",
                    "other",
                    "google_maps",
                    "review_posted",
                    {"service": service, "stylist": stylist},
                    feedback={
                        "rating": j.rating_for(nps),
                        "comment": j.comment(_SALON_COMMENTS, nps, chance=0.85),
                    },
                )
            else:
                j.emit(j.hours(1, 8), "advocacy", "social", "instagram", "story_tagged", {"service": service})
        if not more:
            break
        if rebook_at_desk:  # the next appointment is weeks away
            j.t = min(j.now, j.t + timedelta(days=rng.randint(24, 50)))
        else:
            offer = rng.choice(_SALON_OFFERS)
            j.emit(
                j.day_after(18, 35, lambda r: r.uniform(9, 11)),
                "retention",
                "email",
                "regulars_newsletter",
                "regulars_offer_sent",
                {"offer": offer},
            )
            if rng.random() < 0.5:
                j.emit(
                    j.day_after(0, 6, _browse_hour),
                    "retention",
                    channel,
                    touchpoint,
                    "offer_redeemed",
                    {"offer": offer, "service": service},
                    revenue=round(price * 0.85, 2),
                )
                continue
            j.emit(
                j.day_after(2, 10, _browse_hour),
                "retention",
                channel,
                touchpoint,
                "rebooking_made",
                {"service": service, "stylist": stylist},
                revenue=price,
            )


# --------------------------------------------------------------------------------------
# Northwind Goods

_SHOP_PRODUCTS = {  # product: (sku, category, price in GBP, weight)
    "merino beanie": ("NW-1012", "accessories", 29.0, 14),
    "canvas tote": ("NW-1044", "bags", 24.0, 16),
    "ceramic pour-over set": ("NW-2071", "kitchen", 48.0, 12),
    "linen throw": ("NW-3110", "home", 89.0, 8),
    "walnut desk organiser": ("NW-3204", "office", 65.0, 9),
    "enamel mug": ("NW-2003", "kitchen", 18.0, 18),
    "waxed rain jacket": ("NW-4501", "outerwear", 149.0, 6),
    "wool socks (3 pack)": ("NW-1101", "accessories", 21.0, 14),
}
_SHOP_MARKETS = {  # country: (currency, UTC offset of the customer, price factor, weight)
    "DE": ("EUR", 1, 1.17, 45),
    "US": ("USD", -5, 1.27, 30),
    "GB": ("GBP", 0, 1.0, 25),
}
_SHOP_CARRIERS = ("DHL", "DPD", "UPS", "Royal Mail")
_SHOP_LATE_COMPLAINTS = [
    "Parcel arrived {days} days late and nobody told me. It was meant to be a birthday present.",
    "Tracking said 'out for delivery' for three days. Really disappointed.",
    "Delivery was {days} days late and the box was crushed.",
    "Paid for express shipping, got it {days} days after the promised date.",
    "No updates at all while the order was late, had to chase support twice.",
]
_SHOP_REVIEWS = {
    "promoter": [
        "Beautiful quality, even better than in the photos.",
        "Exactly as described and well packaged. Will order again.",
        "Lovely product, fast delivery.",
        "Gift for my sister, she loved it.",
    ],
    "passive": [
        "Nice product, runs a bit small.",
        "Good quality but shipping costs are high.",
        "Fine, colour slightly different from the website.",
    ],
    "detractor": [
        "Arrived damaged, return process was slow.",
        "Quality not worth the price.",
        "Delivery took forever and support was hard to reach.",
    ],
}
_SHOP_RECOVERED = [
    "Delivery was late, but the voucher and the quick apology made up for it. Great product.",
    "Late parcel, but customer service sorted it out nicely.",
    "Product is great, delivery was a mess. Appreciated the voucher.",
]


def _shop(j: _Journey) -> None:
    rng = j.rng
    country = _pick(rng, {k: v[3] for k, v in _SHOP_MARKETS.items()})
    currency, offset, factor, _ = _SHOP_MARKETS[country]
    j.tz = timezone(timedelta(hours=offset))  # customers shop on their own clock
    mood = _mood(rng)
    interest = _pick(rng, {k: v[3] for k, v in _SHOP_PRODUCTS.items()})
    repeat_buyer = rng.random() < 0.45

    def price(product: str) -> float:
        return round(_SHOP_PRODUCTS[product][2] * factor, 2)

    def product_props(product: str) -> dict[str, Any]:
        sku, category, _, _ = _SHOP_PRODUCTS[product]
        return {
            "product": product,
            "sku": sku,
            "category": category,
            "price": price(product),
            "price_currency": currency,
            "country": country,
        }

    # Awareness
    j.start(_browse_hour)
    source = _pick(rng, {"google_ads": 35, "organic_search": 30, "instagram_ads": 20, "affiliate_blog": 15})
    campaign = rng.choice(["autumn_essentials", "gift_guide", "new_arrivals", "brand_search"])
    if source == "google_ads":
        j.emit(
            j.t,
            "awareness",
            "web",
            "google_ads",
            "ad_clicked",
            {"campaign": campaign, "utm_source": "google", "utm_medium": "cpc", "country": country},
        )
    elif source == "organic_search":
        j.emit(
            j.t,
            "awareness",
            "web",
            "organic_search",
            "search_landing",
            {
                "query": f"{interest} online",
                "utm_source": "google",
                "utm_medium": "organic",
                "country": country,
            },
        )
    elif source == "instagram_ads":
        j.emit(
            j.t,
            "awareness",
            "social",
            "instagram_ads",
            "ad_clicked",
            {
                "campaign": campaign,
                "utm_source": "instagram",
                "utm_medium": "paid_social",
                "country": country,
            },
        )
    else:
        j.emit(
            j.t,
            "awareness",
            "other",
            "affiliate_blog",
            "affiliate_click",
            {"partner": rng.choice(["slowliving.blog", "giftideas.io"]), "country": country},
        )

    # Consideration: product views, cart, checkout.
    if rng.random() > 0.85:
        return
    viewed = [interest]
    j.emit(
        j.minutes(0.2, 2), "consideration", "web", "northwind_web", "product_viewed", product_props(interest)
    )
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        other = _pick(rng, {k: v[3] for k, v in _SHOP_PRODUCTS.items()})
        viewed.append(other)
        j.emit(
            j.minutes(0.5, 6), "consideration", "web", "northwind_web", "product_viewed", product_props(other)
        )
    for _ in range(rng.choice([0, 0, 1, 2])):  # comparison visits on other days
        j.emit(
            j.day_after(1, 6, _browse_hour),
            "consideration",
            "web",
            "northwind_web",
            "product_viewed",
            product_props(rng.choice(viewed)),
        )
    if rng.random() > 0.7:
        return
    basket = list(dict.fromkeys([interest] + [p for p in viewed[1:] if rng.random() < 0.3]))
    for product in basket:
        j.emit(
            j.minutes(0.3, 4),
            "consideration",
            "web",
            "northwind_web",
            "added_to_cart",
            {**product_props(product), "quantity": 1},
        )
    if rng.random() < 0.3:  # comes back another evening
        j.emit(
            j.day_after(1, 5, _browse_hour),
            "consideration",
            "web",
            "northwind_web",
            "cart_viewed",
            {"items": basket, "country": country},
        )
    if rng.random() > 0.85:
        return
    j.emit(
        j.minutes(0.5, 5),
        "consideration",
        "web",
        "northwind_checkout",
        "checkout_started",
        {"items": basket, "country": country},
    )
    if rng.random() > 0.88:
        return

    voucher: str | None = None
    orders = 1 + (rng.randint(1, 3) if repeat_buyer else 0)
    reviewed = False
    for n in range(orders):
        if n > 0:
            # Back for more: a newsletter click, sometimes the goodwill voucher.
            basket = [_pick(rng, {k: v[3] for k, v in _SHOP_PRODUCTS.items()})]
            when = j.day_after(10, 30, _browse_hour)
            j.emit(
                when,
                "retention",
                "email",
                "newsletter",
                "newsletter_clicked",
                {"campaign": rng.choice(["new_arrivals", "restock", "members_sale"])},
            )
            j.emit(
                j.minutes(1, 8),
                "consideration",
                "web",
                "northwind_web",
                "product_viewed",
                product_props(basket[0]),
            )
        subtotal = sum(price(p) for p in basket)
        shipping = 0.0 if subtotal >= 50 * factor else round(4.95 * factor, 2)
        order_id = f"NW-{j.number:04d}-{n + 1}"
        props: dict[str, Any] = {
            "order_id": order_id,
            "items": basket,
            "item": basket[0],
            "item_count": len(basket),
            "shipping": shipping,
            "country": country,
            "payment_method": _pick(rng, {"card": 55, "paypal": 30, "klarna": 15}),
        }
        discount = 0.0
        if voucher and n > 0:
            discount = min(subtotal, round(10 * factor, 2))
            props["voucher"] = voucher
            props["discount"] = discount
        stage = "purchase" if n == 0 else "retention"
        name = "order_placed" if n == 0 else "repeat_order_placed"
        j.emit(
            j.minutes(1, 10),
            stage,
            "web",
            "northwind_checkout",
            name,
            props,
            revenue=subtotal + shipping - discount,
            currency=currency,
        )
        if n == 0 and rng.random() < (0.7 if repeat_buyer else 0.3):
            j.emit(
                j.minutes(0.01, 0.2),
                "retention",
                "web",
                "northwind_checkout",
                "newsletter_subscribed",
                {"country": country},
            )
        if voucher and n > 0:
            j.emit(
                j.minutes(0.01, 0.2),
                "retention",
                "web",
                "northwind_checkout",
                "voucher_redeemed",
                {"voucher": voucher, "order_id": order_id, "discount": discount},
            )
            voucher = None

        # Fulfilment
        carrier = rng.choice(_SHOP_CARRIERS)
        j.emit(
            j.day_after(0, 2, lambda r: r.uniform(14, 18)),
            "use",
            "email",
            "shipping_notification",
            "order_shipped",
            {"order_id": order_id, "carrier": carrier},
        )
        late = rng.random() < 0.2
        if late:
            days_late = rng.randint(2, 7)
            comment = rng.choice(_SHOP_LATE_COMPLAINTS).format(days=days_late)
            j.emit(
                j.day_after(2 + days_late, 3 + days_late, _browse_hour),
                "use",
                "other",
                "carrier_tracking",
                "delivery_late",
                {"order_id": order_id, "carrier": carrier, "days_late": days_late},
                feedback={"csat": rng.choice([1, 1, 2]), "comment": comment},
            )
            via_phone = rng.random() < 0.4
            if via_phone:
                j.emit(
                    j.day_after(0, 1, _office_hour),
                    "use",
                    "call_center",
                    "northwind_support",
                    "complaint_call",
                    {"order_id": order_id, "reason": "late_delivery"},
                    feedback={"ces": rng.randint(4, 7)},
                )
            voucher = f"SORRY-{j.number:04d}{n + 1}"
            j.emit(
                j.minutes(3, 12) if via_phone else j.day_after(0, 1, _office_hour),
                "retention",
                "call_center" if via_phone else "email",
                "northwind_support" if via_phone else "service_recovery_email",
                "goodwill_voucher_issued",
                {
                    "order_id": order_id,
                    "voucher": voucher,
                    "value": round(10 * factor, 2),
                    "value_currency": currency,
                    "reason": "late_delivery",
                },
            )
            j.emit(
                j.day_after(0, 2, _browse_hour),
                "use",
                "other",
                "carrier_tracking",
                "order_delivered",
                {"order_id": order_id, "carrier": carrier, "days_late": days_late},
            )
        else:
            j.emit(
                j.day_after(1, 3, lambda r: r.uniform(9, 19)),
                "use",
                "other",
                "carrier_tracking",
                "order_delivered",
                {"order_id": order_id, "carrier": carrier, "days_late": 0},
            )
        if rng.random() < 0.06:
            j.emit(
                j.day_after(1, 10, _browse_hour),
                "use",
                "web",
                "northwind_returns",
                "return_requested",
                {
                    "order_id": order_id,
                    "item": basket[0],
                    "reason": rng.choice(["too small", "not as pictured", "changed my mind"]),
                },
            )
        if rng.random() < 0.25:
            nps = j.nps(mood, shift=-3.5 if late else 0)
            j.emit(
                j.day_after(1, 4, _browse_hour),
                "use",
                "email",
                "post_delivery_survey",
                "nps_survey_answered",
                {"order_id": order_id},
                feedback={"nps": nps, "comment": j.comment(_SHOP_REVIEWS, nps, chance=0.5)},
            )
        # Reviews: invited a week after delivery.
        if not reviewed and rng.random() < (0.45 if late else 0.18 if mood > 0.6 else 0.1):
            reviewed = True
            if late:
                rating = rng.choice([2, 3, 3, 4, 4, 5])
                comment = (
                    rng.choice(_SHOP_RECOVERED) if rating >= 3 else rng.choice(_SHOP_REVIEWS["detractor"])
                )
            else:
                nps = j.nps(mood)
                rating = j.rating_for(nps)
                comment = j.comment(_SHOP_REVIEWS, nps, chance=0.8)
            j.emit(
                j.day_after(5, 12, _browse_hour),
                "advocacy",
                "web",
                "northwind_reviews",
                "product_review_posted",
                {"product": basket[0], "sku": _SHOP_PRODUCTS[basket[0]][0], "order_id": order_id},
                feedback={"rating": rating, "comment": comment},
            )
            if rating >= 5 and rng.random() < 0.3:
                j.emit(
                    j.hours(0.1, 48),
                    "advocacy",
                    rng.choice(["email", "social"]),
                    "referral_program",
                    "referral_link_shared",
                    {"code": f"NW-FRIEND-{j.number:04d}"},
                )


# --------------------------------------------------------------------------------------
# Helix Mobile (larger brand)

_BRAND_PLANS = {
    "Helix S": (15.0, 30),
    "Helix M": (25.0, 40),
    "Helix L": (39.0, 20),
    "Helix Unlimited": (55.0, 10),
}
_BRAND_COMMENTS = {
    "promoter": [
        "Chat agent solved my roaming issue in five minutes.",
        "Great coverage and a fair price.",
        "Switching was painless, the store team was super helpful.",
    ],
    "passive": ["Network is fine, the app is slow.", "Okay service, hold times could be shorter."],
    "detractor": [
        "On hold for 40 minutes and then the call dropped.",
        "Billed twice for the same month, took three calls to fix.",
        "Chatbot kept looping, never reached a human.",
        "No signal at home since the last update.",
    ],
}


def _brand_hour(rng: random.Random) -> float:
    return _clamp(rng.gauss(14, 3.5), 8, 21.5)


def _brand(j: _Journey) -> None:
    rng = j.rng
    mood = _mood(rng)
    plan = _pick(rng, {k: v[1] for k, v in _BRAND_PLANS.items()})
    fee = _BRAND_PLANS[plan][0]

    j.start(_brand_hour)
    source = _pick(rng, {"tv": 30, "display": 35, "store_window": 20, "referral": 15})
    if source == "tv":
        j.emit(j.t, "awareness", "other", "tv_campaign", "tv_spot_response", {"campaign": "switch_and_save"})
    elif source == "display":
        j.emit(
            j.t,
            "awareness",
            "web",
            "display_ads",
            "ad_clicked",
            {"campaign": "switch_and_save", "utm_medium": "display"},
        )
    elif source == "store_window":
        j.emit(
            j.t,
            "awareness",
            "store",
            "helix_store_window",
            "store_window_seen",
            {"store": rng.choice(["berlin_mitte", "hamburg_altona"])},
        )
    else:
        j.emit(j.t, "awareness", "other", "word_of_mouth", "friend_recommendation", {})

    if rng.random() > 0.7:
        return
    j.emit(j.hours(0.2, 72), "consideration", "web", "helix_web", "plan_compared", {"plan": plan})
    if rng.random() < 0.5:
        j.emit(
            j.minutes(1, 30),
            "consideration",
            "chat",
            "helix_web_chat",
            "pre_sales_chat",
            {"topic": rng.choice(["number porting", "5G coverage", "device offers"])},
        )
    if rng.random() > 0.75:
        return
    channel, touchpoint = _pick(
        rng,
        {("web", "helix_web_shop"): 50, ("store", "helix_store"): 30, ("call_center", "helix_telesales"): 20},
    )
    j.emit(
        j.day_after(0, 7, _brand_hour),
        "purchase",
        channel,
        touchpoint,
        "contract_signed",
        {"plan": plan, "contract_months": rng.choice([1, 24])},
        revenue=fee,
    )
    j.emit(j.day_after(1, 3, _brand_hour), "use", "app", "helix_app", "sim_activated", {"plan": plan})

    months = 0
    while True:
        when = j.day_after(28, 31, lambda r: r.uniform(6, 7))
        if when > j.now:
            return
        months += 1
        j.emit(
            when,
            "retention",
            "other",
            "billing_system",
            "monthly_bill_paid",
            {"plan": plan, "month": months + 1},
            revenue=fee,
        )
        if rng.random() < 0.45:
            nps = j.nps(mood)
            if rng.random() < 0.5:
                j.emit(
                    j.day_after(0, 12, _brand_hour),
                    "use",
                    "call_center",
                    "helix_hotline",
                    "support_call",
                    {
                        "topic": rng.choice(["billing", "roaming", "coverage", "device"]),
                        "wait_min": rng.randint(1, 45),
                    },
                    feedback={
                        "csat": j.csat_for(nps),
                        "ces": rng.randint(1, 7),
                        "nps": nps,
                        "comment": j.comment(_BRAND_COMMENTS, nps),
                    },
                )
            else:
                j.emit(
                    j.day_after(0, 12, _brand_hour),
                    "use",
                    "chat",
                    "helix_app_chat",
                    "support_chat",
                    {"topic": rng.choice(["data usage", "invoice", "esim", "contract"])},
                    feedback={
                        "csat": j.csat_for(nps),
                        "comment": j.comment(_BRAND_COMMENTS, nps, chance=0.4),
                    },
                )
        if months == 1 and rng.random() < 0.2:
            better = "Helix Unlimited" if plan != "Helix Unlimited" else plan
            j.emit(
                j.day_after(0, 10, _brand_hour),
                "retention",
                "app",
                "helix_app",
                "plan_upgraded",
                {"from_plan": plan, "to_plan": better},
            )
            plan, fee = better, _BRAND_PLANS[better][0]
        if mood > 0.7 and "advocacy" not in j.stages and rng.random() < 0.25:
            j.emit(
                j.day_after(0, 10, _brand_hour),
                "advocacy",
                "app",
                "helix_app",
                "referral_sent",
                {"reward": "one month free"},
            )


_SCRIPTS: dict[str, Callable[[_Journey], None]] = {
    "cafe_lina": _cafe,
    "studio_mira": _salon,
    "northwind_goods": _shop,
    "helix_mobile": _brand,
}
