"""Northwind Goods, an online shop selling in EUR, USD and GBP: ads and search, product
views, carts, orders, deliveries (some late, with a complaint and a goodwill voucher),
repeat orders, product reviews."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .common import Journey, browse_hour, draw_mood, office_hour, pick, pick_row

_PRODUCTS = {  # product: (sku, category, price in GBP, weight)
    "merino beanie": ("NW-1012", "accessories", 29.0, 14),
    "canvas tote": ("NW-1044", "bags", 24.0, 16),
    "ceramic pour-over set": ("NW-2071", "kitchen", 48.0, 12),
    "linen throw": ("NW-3110", "home", 89.0, 8),
    "walnut desk organiser": ("NW-3204", "office", 65.0, 9),
    "enamel mug": ("NW-2003", "kitchen", 18.0, 18),
    "waxed rain jacket": ("NW-4501", "outerwear", 149.0, 6),
    "wool socks (3 pack)": ("NW-1101", "accessories", 21.0, 14),
}
_MARKETS = {  # country: (currency, UTC offset of the customer, price factor, weight)
    "DE": ("EUR", 1, 1.17, 45),
    "US": ("USD", -5, 1.27, 30),
    "GB": ("GBP", 0, 1.0, 25),
}
_CARRIERS = ("DHL", "DPD", "UPS", "Royal Mail")
_LATE_COMPLAINTS = [
    "Parcel arrived {days} days late and nobody told me. It was meant to be a birthday present.",
    "Tracking said 'out for delivery' for three days. Really disappointed.",
    "Delivery was {days} days late and the box was crushed.",
    "Paid for express shipping, got it {days} days after the promised date.",
    "No updates at all while the order was late, had to chase support twice.",
]
_REVIEWS = {
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
_RECOVERED = [
    "Delivery was late, but the voucher and the quick apology made up for it. Great product.",
    "Late parcel, but customer service sorted it out nicely.",
    "Product is great, delivery was a mess. Appreciated the voucher.",
]


@dataclass(frozen=True)
class _Shopper:
    """Where a customer shops from: the country, its currency and price factor."""

    country: str
    currency: str
    factor: float

    def price(self, product: str) -> float:
        return round(_PRODUCTS[product][2] * self.factor, 2)

    def product_props(self, product: str) -> dict[str, Any]:
        sku, category, _, _ = _PRODUCTS[product]
        return {
            "product": product,
            "sku": sku,
            "category": category,
            "price": self.price(product),
            "price_currency": self.currency,
            "country": self.country,
        }

    def view(self, j: Journey, when: datetime, product: str) -> None:
        j.emit(when, "consideration", "web", "northwind_web", "product_viewed", self.product_props(product))


def run_journey(j: Journey) -> None:
    """Northwind's customer: an ad or a search, browsing to checkout, orders and their deliveries."""
    rng = j.rng
    country = pick_row(rng, _MARKETS, 3)
    currency, offset, factor, _ = _MARKETS[country]
    j.tz = timezone(timedelta(hours=offset))  # customers shop on their own clock
    shopper = _Shopper(country, currency, factor)
    mood = draw_mood(rng)
    interest = pick_row(rng, _PRODUCTS, 3)
    repeat_buyer = rng.random() < 0.45

    _arrive(j, shopper, interest)
    basket = _browse_to_checkout(j, shopper, interest)
    if basket is None:
        return
    voucher: str | None = None
    orders = 1 + (rng.randint(1, 3) if repeat_buyer else 0)
    reviewed = False
    for n in range(orders):
        if n > 0:
            basket = _come_back(j, shopper)
        order_id = _place_order(j, shopper, basket, n, voucher, repeat_buyer)
        voucher = _deliver(j, shopper, order_id, n)
        late = voucher is not None
        reviewed = _follow_up(j, order_id, basket, mood, late=late, reviewed=reviewed)


def _arrive(j: Journey, shopper: _Shopper, interest: str) -> None:
    """Awareness: an ad, a search or an affiliate link to the product of interest."""
    rng = j.rng
    j.start(browse_hour)
    j.browse_anonymously()  # a new visitor: no account until checkout
    source = pick(rng, {"google_ads": 35, "organic_search": 30, "instagram_ads": 20, "affiliate_blog": 15})
    campaign = rng.choice(["autumn_essentials", "gift_guide", "new_arrivals", "brand_search"])
    props: dict[str, Any]
    if source == "google_ads":
        channel, event = "web", "ad_clicked"
        props = {"campaign": campaign, "utm_source": "google", "utm_medium": "cpc"}
    elif source == "organic_search":
        channel, event = "web", "search_landing"
        props = {"query": f"{interest} online", "utm_source": "google", "utm_medium": "organic"}
    elif source == "instagram_ads":
        channel, event = "social", "ad_clicked"
        props = {"campaign": campaign, "utm_source": "instagram", "utm_medium": "paid_social"}
    else:
        channel, event = "other", "affiliate_click"
        props = {"partner": rng.choice(["slowliving.blog", "giftideas.io"])}
    j.emit(j.t, "awareness", channel, source, event, {**props, "country": shopper.country})


def _browse_to_checkout(j: Journey, shopper: _Shopper, interest: str) -> list[str] | None:
    """Consideration: product views, cart, checkout; the basket, or None when the customer leaves."""
    rng = j.rng
    if rng.random() > 0.85:
        return None
    viewed = [interest]
    shopper.view(j, j.minutes(0.2, 2), interest)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        other = pick_row(rng, _PRODUCTS, 3)
        viewed.append(other)
        shopper.view(j, j.minutes(0.5, 6), other)
    for _ in range(rng.choice([0, 0, 1, 2])):  # comparison visits on other days
        shopper.view(j, j.day_after(1, 6, browse_hour), rng.choice(viewed))
    if rng.random() > 0.7:
        return None
    basket = list(dict.fromkeys([interest] + [p for p in viewed[1:] if rng.random() < 0.3]))
    for product in basket:
        j.emit(
            j.minutes(0.3, 4),
            "consideration",
            "web",
            "northwind_web",
            "added_to_cart",
            {**shopper.product_props(product), "quantity": 1},
        )
    if rng.random() < 0.3:  # comes back another evening
        j.emit(
            j.day_after(1, 5, browse_hour),
            "consideration",
            "web",
            "northwind_web",
            "cart_viewed",
            {"items": basket, "country": shopper.country},
        )
    if rng.random() > 0.85:
        return None
    j.signed_in = True  # checkout asks for an account: the site now sends both ids
    j.emit(
        j.minutes(0.5, 5),
        "consideration",
        "web",
        "northwind_checkout",
        "checkout_started",
        {"items": basket, "country": shopper.country},
    )
    if rng.random() > 0.88:
        return None
    return basket


def _come_back(j: Journey, shopper: _Shopper) -> list[str]:
    """Back for more: a newsletter click and a look at the product; the new basket."""
    rng = j.rng
    basket = [pick_row(rng, _PRODUCTS, 3)]
    j.emit(
        j.day_after(10, 30, browse_hour),
        "retention",
        "email",
        "newsletter",
        "newsletter_clicked",
        {"campaign": rng.choice(["new_arrivals", "restock", "members_sale"])},
    )
    shopper.view(j, j.minutes(1, 8), basket[0])
    return basket


def _place_order(
    j: Journey, shopper: _Shopper, basket: list[str], n: int, voucher: str | None, repeat_buyer: bool
) -> str:
    """The ``n``-th order (0: the first), redeeming the goodwill voucher from a late delivery if any;
    its order id."""
    rng = j.rng
    subtotal = sum(shopper.price(p) for p in basket)
    shipping = 0.0 if subtotal >= 50 * shopper.factor else round(4.95 * shopper.factor, 2)
    order_id = f"NW-{j.number:04d}-{n + 1}"
    props: dict[str, Any] = {
        "order_id": order_id,
        "items": basket,
        "item": basket[0],
        "item_count": len(basket),
        "shipping": shipping,
        "country": shopper.country,
        "payment_method": pick(rng, {"card": 55, "paypal": 30, "klarna": 15}),
    }
    discount = 0.0
    if voucher:  # only ever issued after an order: n > 0
        discount = min(subtotal, round(10 * shopper.factor, 2))
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
        currency=shopper.currency,
    )
    if n == 0 and rng.random() < (0.7 if repeat_buyer else 0.3):
        j.emit(
            j.minutes(0.01, 0.2),
            "retention",
            "web",
            "northwind_checkout",
            "newsletter_subscribed",
            {"country": shopper.country},
        )
    if voucher:
        j.emit(
            j.minutes(0.01, 0.2),
            "retention",
            "web",
            "northwind_checkout",
            "voucher_redeemed",
            {"voucher": voucher, "order_id": order_id, "discount": discount},
        )
    return order_id


def _deliver(j: Journey, shopper: _Shopper, order_id: str, n: int) -> str | None:
    """Shipping and delivery; a late one brings a complaint and a goodwill voucher (returned)."""
    rng = j.rng
    carrier = rng.choice(_CARRIERS)
    j.emit(
        j.day_after(0, 2, lambda r: r.uniform(14, 18)),
        "use",
        "email",
        "shipping_notification",
        "order_shipped",
        {"order_id": order_id, "carrier": carrier},
    )
    if rng.random() >= 0.2:  # on time
        j.emit(
            j.day_after(1, 3, lambda r: r.uniform(9, 19)),
            "use",
            "other",
            "carrier_tracking",
            "order_delivered",
            {"order_id": order_id, "carrier": carrier, "days_late": 0},
        )
        return None
    return _late_delivery(j, shopper, order_id, carrier, n)


def _late_delivery(j: Journey, shopper: _Shopper, order_id: str, carrier: str, n: int) -> str:
    """Days late: the tracking's complaint, maybe a call, a goodwill voucher (returned), the parcel."""
    rng = j.rng
    days_late = rng.randint(2, 7)
    comment = rng.choice(_LATE_COMPLAINTS).format(days=days_late)
    j.emit(
        j.day_after(2 + days_late, 3 + days_late, browse_hour),
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
            j.day_after(0, 1, office_hour),
            "use",
            "call_center",
            "northwind_support",
            "complaint_call",
            {"order_id": order_id, "reason": "late_delivery"},
            feedback={"ces": rng.randint(4, 7)},
        )
    voucher = f"SORRY-{j.number:04d}{n + 1}"
    j.emit(
        j.minutes(3, 12) if via_phone else j.day_after(0, 1, office_hour),
        "retention",
        "call_center" if via_phone else "email",
        "northwind_support" if via_phone else "service_recovery_email",
        "goodwill_voucher_issued",
        {
            "order_id": order_id,
            "voucher": voucher,
            "value": round(10 * shopper.factor, 2),
            "value_currency": shopper.currency,
            "reason": "late_delivery",
        },
    )
    j.emit(
        j.day_after(0, 2, browse_hour),
        "use",
        "other",
        "carrier_tracking",
        "order_delivered",
        {"order_id": order_id, "carrier": carrier, "days_late": days_late},
    )
    return voucher


def _follow_up(j: Journey, order_id: str, basket: list[str], mood: float, *, late: bool, reviewed: bool) -> bool:
    """A return, a survey, a product review (once a customer); whether the customer has reviewed."""
    rng = j.rng
    if rng.random() < 0.06:
        j.emit(
            j.day_after(1, 10, browse_hour),
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
            j.day_after(1, 4, browse_hour),
            "use",
            "email",
            "post_delivery_survey",
            "nps_survey_answered",
            {"order_id": order_id},
            feedback={"nps": nps, "comment": j.comment(_REVIEWS, nps, chance=0.5)},
        )
    # Reviews: invited a week after delivery.
    if not reviewed and rng.random() < (0.45 if late else 0.18 if mood > 0.6 else 0.1):
        reviewed = True
        if late:
            rating = rng.choice([2, 3, 3, 4, 4, 5])
            comment = rng.choice(_RECOVERED) if rating >= 3 else rng.choice(_REVIEWS["detractor"])
        else:
            nps = j.nps(mood)
            rating = j.rating_for(nps)
            comment = j.comment(_REVIEWS, nps, chance=0.8)
        j.emit(
            j.day_after(5, 12, browse_hour),
            "advocacy",
            "web",
            "northwind_reviews",
            "product_review_posted",
            {"product": basket[0], "sku": _PRODUCTS[basket[0]][0], "order_id": order_id},
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
    return reviewed
