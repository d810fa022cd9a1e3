"""Studio Mira, a hair and beauty salon: Instagram discovery, bookings in the app or on the
website, visits in the salon, offers for regulars by email, reviews and tagged stories."""

from __future__ import annotations

import random
from datetime import timedelta

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


def _discover(j: Journey, service: str, booking_channel: str) -> bool:
    """Awareness and consideration; False when the customer does not go on to book."""
    rng = j.rng
    # Awareness: mostly Instagram, sometimes several touches.
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

    # Consideration
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


def run_journey(j: Journey) -> None:
    """Studio Mira's customer: discovery, a booking, visits; regulars rebook or get offers."""
    rng = j.rng
    service = pick_row(rng, _SERVICES, 2)
    stylist = rng.choice(_STYLISTS)
    mood = draw_mood(rng)
    regular = rng.random() < 0.6
    booking_channel = pick(rng, {"app": 60, "web": 40})
    if not _discover(j, service, booking_channel):
        return

    # Booking (purchase)
    if rng.random() > 0.75:
        return
    price, duration, _ = _SERVICES[service]
    channel, touchpoint = ("app", "studio_mira_booking") if booking_channel == "app" else ("web", "studio_mira_website")
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
        return min(_half_hour(r), int(last_start * 2) / 2)

    visits_planned = 1 + (rng.randint(1, 3) if regular else 0)
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
        if not more:
            break
        if rebook_at_desk:  # the next appointment is weeks away
            j.t = min(j.now, j.t + timedelta(days=rng.randint(24, 50)))
        else:
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
                    {"offer": offer, "service": service},
                    revenue=round(price * 0.85, 2),
                )
                continue
            j.emit(
                j.day_after(2, 10, browse_hour),
                "retention",
                channel,
                touchpoint,
                "rebooking_made",
                {"service": service, "stylist": stylist},
                revenue=price,
            )
