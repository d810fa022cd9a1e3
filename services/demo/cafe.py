"""Café Lina, a one-person café: POS and app orders, morning-rush and lunch visits,
loyalty stamps, app re-orders, receipt/app surveys, Google reviews."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .common import HourFn, Journey, clamp, draw_mood, pick, pick_row

_SLOTS = {"morning": 55, "lunch": 30, "afternoon": 15}  # when a customer tends to come, by weight
_DRINKS = {  # item: (price EUR, weight)
    "flat white": (3.60, 24),
    "oat latte": (4.10, 20),
    "cappuccino": (3.40, 14),
    "espresso": (2.20, 9),
    "chai latte": (4.20, 7),
    "matcha latte": (4.40, 6),
    "filter coffee": (2.80, 10),
    "hot chocolate": (3.80, 4),
}
_BREAKFAST = {
    "cinnamon bun": (3.20, 25),
    "croissant": (2.60, 20),
    "banana bread": (3.50, 14),
    "granola bowl": (6.40, 8),
    "avocado toast": (8.90, 10),
}
_LUNCH = {
    "soup of the day": (6.50, 18),
    "grilled cheese sandwich": (7.20, 20),
    "falafel wrap": (8.40, 14),
    "quiche with salad": (9.20, 10),
    "cinnamon bun": (3.20, 12),
}
_COMMENTS = {
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


def _hour_fn(preference: str) -> HourFn:
    def hour(rng: random.Random) -> float:
        slot = preference if rng.random() < 0.75 else pick(rng, _SLOTS)
        if slot == "morning":
            h = rng.gauss(8.3, 0.55)
        elif slot == "lunch":
            h = rng.gauss(12.8, 0.45)
        else:
            h = rng.uniform(14.0, 17.5)
        return clamp(h, 7.0, 17.9)

    return hour


def _order(j: Journey, hour: float, favourite: str, fav_food: str) -> tuple[list[str], float]:
    rng = j.rng
    items: list[str] = []
    total = 0.0
    drink = favourite if rng.random() < 0.8 else pick_row(rng, _DRINKS, 1)
    items.append(drink)
    total += _DRINKS[drink][0]
    foods = _LUNCH if 11.5 <= hour < 14.5 else _BREAKFAST
    if rng.random() < (0.75 if foods is _LUNCH else 0.4):
        food = fav_food if fav_food in foods and rng.random() < 0.6 else pick_row(rng, foods, 1)
        items.append(food)
        total += foods[food][0]
    if rng.random() < 0.12:  # a coffee for a colleague
        extra = pick_row(rng, _DRINKS, 1)
        items.append(extra)
        total += _DRINKS[extra][0]
    return items, total


def _stamp(j: Journey, stamps: int, via_app: bool, favourite: str) -> int:
    """One loyalty stamp (joining the programme with the first); returns the stamps so far."""
    channel, touchpoint = ("app", "cafe_app") if via_app else ("pos", "cafe_counter_pos")
    if stamps == 0:
        j.emit(
            j.minutes(0.1, 1),
            "retention",
            channel,
            touchpoint,
            "loyalty_joined",
            {"programme": "10th coffee free"},
        )
    stamps += 1
    j.emit(j.minutes(0.1, 1), "retention", channel, touchpoint, "loyalty_stamp", {"stamps": stamps % 10 or 10})
    if stamps % 10 == 0:
        j.emit(
            j.minutes(0.1, 1),
            "retention",
            channel,
            touchpoint,
            "loyalty_reward_redeemed",
            {"item": favourite, "reward": "free drink"},
        )
    return stamps


@dataclass(frozen=True)
class _Customer:
    """What a café customer is like: when they come, what they order, how they pay and feel."""

    hour_fn: HourFn
    favourite: str
    fav_food: str
    segment: str  # one_off, occasional or regular
    app_user: bool
    loyalty: bool
    mood: float


def _customer(rng: random.Random) -> _Customer:
    preference = pick(rng, _SLOTS)
    hour_fn = _hour_fn(preference)
    favourite = pick_row(rng, _DRINKS, 1)
    fav_food = pick_row(rng, {**_BREAKFAST, **_LUNCH}, 1)
    segment = pick(rng, {"one_off": 35, "occasional": 38, "regular": 27})
    app_user = rng.random() < 0.45
    loyalty = app_user or rng.random() < 0.35
    mood = draw_mood(rng)
    return _Customer(hour_fn, favourite, fav_food, segment, app_user, loyalty, mood)


def run_journey(j: Journey) -> None:
    """Café Lina's customer: first touch, first order, then visits as one-off, occasional or regular."""
    rng = j.rng
    customer = _customer(rng)
    source = _awareness(j, customer)
    if not _consideration(j, customer, source):
        return
    # First purchase
    if rng.random() > 0.84:
        return
    visits = {"one_off": 0, "occasional": rng.randint(2, 6), "regular": rng.randint(12, 32)}[customer.segment]
    stamps = 0
    for visit in range(visits + 1):
        stamps = _visit(j, customer, visit, source, stamps)


def _awareness(j: Journey, customer: _Customer) -> str:
    """Walking by, Instagram, Google Maps or a friend; the source."""
    rng = j.rng
    j.start(customer.hour_fn)
    source = pick(rng, {"walk_by": 35, "instagram": 25, "google_maps": 25, "friend": 15})
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
        j.friend_recommendation()
    return source


def _consideration(j: Journey, customer: _Customer, source: str) -> bool:
    """The menu on the board, in the app or on the website; False when the customer goes no further."""
    rng = j.rng
    if rng.random() > 0.82:
        return False
    if source == "walk_by":
        j.emit(j.minutes(1, 4), "consideration", "store", "cafe_menu_board", "menu_board_viewed", {})
    elif customer.app_user and rng.random() < 0.6:
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
    return True


def _visit(j: Journey, customer: _Customer, visit: int, source: str, stamps: int) -> int:
    """One visit (0: the first purchase), its stamp, feedback and advocacy; the stamps so far."""
    rng = j.rng
    if visit == 0:
        when = j.minutes(2, 8) if source == "walk_by" else j.day_after(0, 6, customer.hour_fn)
    else:
        gap = max(1, round(rng.expovariate(1 / (2.5 if customer.segment == "regular" else 10))))
        when = j.day_after(gap, gap, customer.hour_fn)
    stage = "purchase" if visit == 0 else "retention"
    local_hour = when.astimezone(j.tz).hour + when.astimezone(j.tz).minute / 60
    items, total = _order(j, local_hour, customer.favourite, customer.fav_food)
    props: dict[str, Any] = {"item": items[0], "items": items, "visit_number": visit + 1}
    via_app = customer.app_user and rng.random() < 0.55
    if via_app:
        _app_order(j, when, stage, props, total, first=visit == 0)
    else:
        _counter_order(j, when, stage, props, total)
    if customer.loyalty and visit > 0:  # the stamp card comes out on the second visit
        stamps = _stamp(j, stamps, via_app, customer.favourite)
    _feedback(j, customer, items[0])
    _advocacy(j, customer, visit)
    return stamps


def _app_order(j: Journey, when: datetime, stage: str, props: dict[str, Any], total: float, *, first: bool) -> None:
    """Ordered ahead in the app, picked up at the counter."""
    props["order_type"] = "app_pickup"
    name = "app_order_placed" if first else "app_reorder"
    j.emit(when, stage, "app", "cafe_app", name, props, revenue=total)
    j.emit(
        j.minutes(4, 12),
        "use",
        "store",
        "cafe_counter",
        "order_picked_up",
        {"item": props["item"], "wait_min": j.rng.randint(0, 6)},
    )


def _counter_order(j: Journey, when: datetime, stage: str, props: dict[str, Any], total: float) -> None:
    """Ordered at the till, to take away or to stay."""
    rng = j.rng
    dine_in = rng.random() < 0.4
    props["order_type"] = "dine_in" if dine_in else "takeaway"
    props["payment"] = pick(rng, {"card": 70, "contactless_phone": 20, "cash": 10})
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


def _feedback(j: Journey, customer: _Customer, item: str) -> None:
    """Occasional feedback: in-app prompt or the survey link on the receipt."""
    rng = j.rng
    if rng.random() < (0.16 if customer.app_user else 0.07):
        nps = j.nps(customer.mood, shift=rng.choice([0, 0, 0, -3]))
        channel, touchpoint = ("app", "cafe_app_survey") if customer.app_user else ("email", "receipt_survey")
        j.emit(
            j.hours(0.5, 6),
            "use",
            channel,
            touchpoint,
            "feedback_submitted",
            {"item": item},
            feedback={"nps": nps, "csat": j.csat_for(nps), "comment": j.comment(_COMMENTS, nps)},
        )


def _advocacy(j: Journey, customer: _Customer, visit: int) -> None:
    """Regulars who like it talk about it: a Google review or a friend referred, once."""
    rng = j.rng
    if visit < 2 or "advocacy" in j.stages or rng.random() >= (0.07 if customer.mood > 0.7 else 0.015):
        return
    nps = j.nps(customer.mood)
    if rng.random() < 0.6:
        j.emit(
            j.hours(1, 30),
            "advocacy",
            "other",
            "google_maps",
            "google_review_posted",
            {"item": customer.favourite},
            feedback={
                "rating": j.rating_for(nps),
                "comment": j.comment(_COMMENTS, nps, chance=0.9),
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
