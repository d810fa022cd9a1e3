"""Studio Mira, a hair and beauty salon: Instagram discovery, bookings in the app or on the
website, visits in the salon, offers for regulars by email, reviews and tagged stories."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .common import Journey, browse_hour, draw_mood, pick, pick_row

_SERVICES = {  # service: (price EUR, minutes, weight)
    "women's cut & blow-dry": (58.0, 60, 26),
    "men's cut": (32.0, 30, 20),
    "colour": (95.0, 120, 14),
    "balayage": (160.0, 180, 8),
    "blow-dry": (35.0, 45, 10),
    "gel manicure": (40.0, 50, 12),
    "brow lamination": (45.0, 45, 10),
}
_STYLISTS = ("Mira", "Jonas", "Elif")
_OFFERS = (
    "15% off your next colour",
    "free treatment with any cut",
    "bring a friend: 20% off for both",
)
_COMMENTS = {
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


_OPEN_DAYS = (1, 2, 3, 4, 5)  # Tuesday–Saturday


def _half_hour(rng: random.Random) -> float:
    return rng.randint(18, 36) / 2  # on the half hour, 9:00–18:00


@dataclass(frozen=True)
class _Client:
    """A salon client: the service they come for, with whom, how they book and how they feel."""

    service: str
    stylist: str
    mood: float
    regular: bool
    booking_channel: str  # app or web

    @property
    def price(self) -> float:
        return _SERVICES[self.service][0]

    @property
    def duration(self) -> int:
        return _SERVICES[self.service][1]

    @property
    def booked_via(self) -> tuple[str, str]:
        """The channel and touchpoint of their bookings."""
        return ("app", "studio_mira_booking") if self.booking_channel == "app" else ("web", "studio_mira_website")


def run_journey(j: Journey) -> None:
    """Studio Mira's customer: discovery, a booking, visits; regulars rebook or get offers."""
    rng = j.rng
    service = pick_row(rng, _SERVICES, 2)
    stylist = rng.choice(_STYLISTS)
    mood = draw_mood(rng)
    regular = rng.random() < 0.6
    client = _Client(service, stylist, mood, regular, pick(rng, {"app": 60, "web": 40}))
    source = _awareness(j)
    if not _consideration(j, source, client.service, client.booking_channel):
        return
    # Booking (purchase)
    if rng.random() > 0.75:
        return
    channel, touchpoint = client.booked_via
    j.emit(
        j.minutes(1, 30),
        "purchase",
        channel,
        touchpoint,
        "appointment_booked",
        {"service": service, "stylist": stylist, "duration_min": client.duration},
        revenue=client.price,
    )
    _visits(j, client)


def _awareness(j: Journey) -> str:
    """Mostly Instagram, sometimes several touches; else Google Maps or a friend. The source."""
    rng = j.rng
    j.start(browse_hour)
    source = pick(rng, {"instagram": 60, "google_maps": 25, "friend": 15})
    if source == "instagram":
        for n in range(rng.choice([1, 1, 2, 3])):
            when = j.t if n == 0 else j.day_after(1, 6, browse_hour)
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
        j.friend_recommendation()
    return source


def _consideration(j: Journey, source: str, service: str, booking_channel: str) -> bool:
    """Following, asking, prices, availability; False when the customer does not go on to book."""
    rng = j.rng
    if rng.random() > 0.75:
        return False
    if source == "instagram":
        j.emit(j.minutes(0.1, 3), "consideration", "social", "instagram", "account_followed", {})
        if rng.random() < 0.4:
            j.emit(j.hours(0.2, 20), "consideration", "social", "instagram", "dm_enquiry", {"service": service})
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
    return True


def _visits(j: Journey, client: _Client) -> None:
    """The first appointment and, for regulars, the next ones: each attended (or missed), and what
    happens between them."""
    rng = j.rng
    last_start = 19 - client.duration / 60  # the salon closes at 19:00

    def slot_hour(r: random.Random) -> float:
        return min(_half_hour(r), int(last_start * 2) / 2)

    visits_planned = 1 + (rng.randint(1, 3) if client.regular else 0)
    visits_done = 0
    for visit in range(visits_planned):
        appointment = j.day_after(2 if visit == 0 else 0, 12 if visit == 0 else 3, slot_hour, weekdays=_OPEN_DAYS)
        if rng.random() < 0.05:
            j.emit(
                appointment,
                "purchase",
                "app",
                "studio_mira_booking",
                "appointment_no_show",
                {"service": client.service},
            )
            if visit == 0:
                return
            continue
        visits_done += 1
        _attend(j, client, appointment, visits_done)
        more = visit + 1 < visits_planned
        # Regulars either rebook at the desk on the way out or later get the regulars' offer.
        rebook_at_desk = more and rng.random() >= 0.45
        if rebook_at_desk:
            _rebook_at_desk(j, client, appointment)
        _after_visit(j, client, visits_done)
        if not more:
            break
        _until_next_visit(j, client, rebook_at_desk)


def _attend(j: Journey, client: _Client, appointment: datetime, visit_number: int) -> None:
    """A reminder the day before, the visit, maybe a product bought on the way out."""
    rng = j.rng
    service, stylist = client.service, client.stylist
    if (appointment - j.t) > timedelta(hours=30):
        channel, touchpoint = client.booked_via
        j.emit(
            appointment - timedelta(hours=24, minutes=rng.randint(0, 90)),
            "purchase",
            channel,
            touchpoint,
            "appointment_reminder_sent",
            {"service": service, "stylist": stylist},
        )
    j.emit(
        appointment,
        "use",
        "store",
        "studio_mira_salon",
        "appointment_attended",
        {"service": service, "stylist": stylist, "visit_number": visit_number},
    )
    if rng.random() < 0.22:
        product = rng.choice(["repair shampoo", "curl cream", "heat protect spray", "cuticle oil"])
        j.emit(
            j.minutes(client.duration - 5, client.duration + 5),
            "purchase",
            "pos",
            "studio_mira_pos",
            "retail_product_sold",
            {"item": product},
            revenue=rng.choice([18.0, 22.0, 24.5, 12.0]),
        )


def _rebook_at_desk(j: Journey, client: _Client, appointment: datetime) -> None:
    rng = j.rng
    checkout = max(j.t, appointment + timedelta(minutes=client.duration))
    j.emit(
        checkout + timedelta(minutes=rng.uniform(1, 8)),
        "retention",
        "store",
        "studio_mira_salon",
        "rebooking_made",
        {"service": client.service, "stylist": client.stylist, "weeks_ahead": rng.randint(4, 8)},
        revenue=client.price,
    )


def _after_visit(j: Journey, client: _Client, visits_done: int) -> None:
    """Aftercare tips, a survey now and then, a review or a tagged story once."""
    rng = j.rng
    service, stylist, mood = client.service, client.stylist, client.mood
    if service in ("colour", "balayage", "brow lamination") and rng.random() < 0.7:
        j.emit(j.hours(2, 6), "use", "email", "aftercare_email", "aftercare_tips_sent", {"service": service})
    if rng.random() < 0.35:
        nps = j.nps(mood)
        j.emit(
            j.hours(3, 30),
            "use",
            "email",
            "post_visit_survey",
            "visit_feedback",
            {"service": service, "stylist": stylist},
            feedback={"csat": j.csat_for(nps), "nps": nps, "comment": j.comment(_COMMENTS, nps)},
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
                    "comment": j.comment(_COMMENTS, nps, chance=0.85),
                },
            )
        else:
            j.emit(j.hours(1, 8), "advocacy", "social", "instagram", "story_tagged", {"service": service})


def _until_next_visit(j: Journey, client: _Client, rebooked_at_desk: bool) -> None:
    """Weeks pass after a rebooking at the desk; else the regulars' offer, redeemed or not, then a booking."""
    rng = j.rng
    if rebooked_at_desk:  # the next appointment is weeks away
        j.t = min(j.now, j.t + timedelta(days=rng.randint(24, 50)))
        return
    channel, touchpoint = client.booked_via
    offer = rng.choice(_OFFERS)
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
            j.day_after(0, 6, browse_hour),
            "retention",
            channel,
            touchpoint,
            "offer_redeemed",
            {"offer": offer, "service": client.service},
            revenue=round(client.price * 0.85, 2),
        )
        return
    j.emit(
        j.day_after(2, 10, browse_hour),
        "retention",
        channel,
        touchpoint,
        "rebooking_made",
        {"service": client.service, "stylist": client.stylist},
        revenue=client.price,
    )
