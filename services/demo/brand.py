"""Helix Mobile, a larger mobile operator: campaigns, web chat, contracts in the web shop,
stores or by phone, then monthly bills, support calls and chats, upgrades and referrals."""

from __future__ import annotations

import random

from .common import Journey, clamp, draw_mood, pick, pick_row

_PLANS = {
    "Helix S": (15.0, 30),
    "Helix M": (25.0, 40),
    "Helix L": (39.0, 20),
    "Helix Unlimited": (55.0, 10),
}
_COMMENTS = {
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


def _hour(rng: random.Random) -> float:
    return clamp(rng.gauss(14, 3.5), 8, 21.5)


def run_journey(j: Journey) -> None:
    """Helix's customer: a campaign, a contract, then a bill every month with support now and then."""
    rng = j.rng
    mood = draw_mood(rng)
    plan = pick_row(rng, _PLANS, 1)
    _awareness(j)
    if not _consideration(j, plan):
        return
    _purchase(j, plan)
    _months(j, plan, mood)


def _awareness(j: Journey) -> None:
    """A TV spot, a display ad, a store window or a friend."""
    rng = j.rng
    j.start(_hour)
    source = pick(rng, {"tv": 30, "display": 35, "store_window": 20, "referral": 15})
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
        j.friend_recommendation()


def _consideration(j: Journey, plan: str) -> bool:
    """Comparing plans, maybe a pre-sales chat; whether the customer goes on to sign."""
    rng = j.rng
    if rng.random() > 0.7:
        return False
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
    return rng.random() <= 0.75


def _purchase(j: Journey, plan: str) -> None:
    """The contract, signed in the web shop, a store or by phone; the SIM activated."""
    rng = j.rng
    channel, touchpoint = pick(
        rng,
        {("web", "helix_web_shop"): 50, ("store", "helix_store"): 30, ("call_center", "helix_telesales"): 20},
    )
    j.emit(
        j.day_after(0, 7, _hour),
        "purchase",
        channel,
        touchpoint,
        "contract_signed",
        {"plan": plan, "contract_months": rng.choice([1, 24])},
        revenue=_PLANS[plan][0],
    )
    j.emit(j.day_after(1, 3, _hour), "use", "app", "helix_app", "sim_activated", {"plan": plan})


def _months(j: Journey, plan: str, mood: float) -> None:
    """A bill paid every month until now; support, an upgrade after the first, a referral."""
    rng = j.rng
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
            revenue=_PLANS[plan][0],
        )
        if rng.random() < 0.45:
            _support(j, mood)
        if months == 1 and rng.random() < 0.2:
            plan = _upgrade(j, plan)
        if mood > 0.7 and "advocacy" not in j.stages and rng.random() < 0.25:
            j.emit(
                j.day_after(0, 10, _hour),
                "advocacy",
                "app",
                "helix_app",
                "referral_sent",
                {"reward": "one month free"},
            )


def _support(j: Journey, mood: float) -> None:
    """A support call or chat, with its feedback."""
    rng = j.rng
    nps = j.nps(mood)
    if rng.random() < 0.5:
        j.emit(
            j.day_after(0, 12, _hour),
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
                "comment": j.comment(_COMMENTS, nps),
            },
        )
    else:
        j.emit(
            j.day_after(0, 12, _hour),
            "use",
            "chat",
            "helix_app_chat",
            "support_chat",
            {"topic": rng.choice(["data usage", "invoice", "esim", "contract"])},
            feedback={
                "csat": j.csat_for(nps),
                "comment": j.comment(_COMMENTS, nps, chance=0.4),
            },
        )


def _upgrade(j: Journey, plan: str) -> str:
    """Up to Helix Unlimited in the app; the plan from now on."""
    better = "Helix Unlimited" if plan != "Helix Unlimited" else plan
    j.emit(
        j.day_after(0, 10, _hour),
        "retention",
        "app",
        "helix_app",
        "plan_upgraded",
        {"from_plan": plan, "to_plan": better},
    )
    return better
