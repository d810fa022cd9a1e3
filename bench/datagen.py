"""The query data set: realistic journeys generated straight into ClickHouse by INSERT ... SELECT.

Each customer has `per_customer` events in journey order, so every figure reads the same shape of
data that ingest and the processors would have written, without going through HTTP:

* a journey depth drawn per customer (all reach awareness, 60% consideration, 40% purchase, 25% use,
  15% retention, 6% advocacy), and events whose stage climbs to it in order;
* a fifth of the customers send their first two events with only an anonymous id (customer_id
  'anon:<id>'), then sign in: `identities` links the two, as the processors would have written it;
* times: a start spread over one year, then one event per gap (1 h to 5 days per customer) with
  jitter below the gap, so times rise with the stage;
* channel, touchpoint and event name fitting the stage; properties with an item and a campaign;
  revenue in the customer's currency on purchase events; NPS on advocacy events, CSAT on some use
  events, a comment on low scores.

Columns the statement does not name (added by later migrations) take their defaults.
"""
from __future__ import annotations

from datetime import datetime, timezone

DATA_START = datetime(2025, 1, 1, tzinfo=timezone.utc)  # journeys start within the year from here
DATA_DAYS = 365
CUSTOMER_PREFIX = "bench-c"
ANONYMOUS_PREFIX = "bench-a"  # a fifth of the customers browse anonymously before they sign in

_ITEMS = ["flat white", "oat latte", "espresso", "croissant", "merino beanie", "canvas tote",
          "enamel mug", "linen throw", "rain jacket", "wool socks", "haircut", "colour treatment",
          "beard trim", "gift card", "desk organiser", "pour-over set"]
_CAMPAIGNS = ["winter", "spring", "summer", "autumn", "black_friday", "newsletter", "referral"]
# Per stage: four (channel, event name) pairs that fit it.
_CHANNELS = [["social", "web", "email", "social"], ["web", "app", "web", "store"],
             ["web", "app", "pos", "store"], ["app", "web", "store", "app"],
             ["email", "app", "pos", "web"], ["web", "social", "email", "app"]]
_EVENTS = [["ad_clicked", "page_viewed", "newsletter_opened", "post_seen"],
           ["product_viewed", "product_viewed", "added_to_cart", "store_visited"],
           ["order_completed", "order_completed", "pos_sale", "pos_sale"],
           ["delivery_received", "app_opened", "item_used", "support_chat"],
           ["reorder_reminder_opened", "repeat_order", "repeat_order", "loyalty_points_used"],
           ["review_posted", "referral_sent", "survey_answered", "review_posted"]]


def _array(values: list) -> str:
    return "[" + ", ".join("'" + v + "'" for v in values) + "]"


def _nested(values: list[list[str]]) -> str:
    return "[" + ", ".join(_array(v) for v in values) + "]"


# Constants only in the text; the sizes and times are typed parameters.
INSERT_SQL = f"""
INSERT INTO events (event_id, customer_id, anonymous_id, stage, channel, touchpoint, event, occurred_at, received_at,
                    properties, revenue, currency, nps, csat, ces, rating, comment, source,
                    kafka_partition, kafka_offset)
SELECT
    concat('bench-e', toString(number)) AS event_id,
    if(anon AND j < 2, concat('anon:', anonymous_id), concat('{CUSTOMER_PREFIX}', leftPad(toString(c), 7, '0')))
        AS customer_id,
    if(anon, concat('{ANONYMOUS_PREFIX}', toString(c)), '') AS anonymous_id,
    toUInt8(stage_no) AS stage,
    {_nested(_CHANNELS)}[stage_no][1 + h_event % 4] AS channel,
    multiIf(channel IN ('pos', 'store'), concat('store_', toString(h_event % 40), '_', channel),
            channel = 'web', concat('web_', ['home', 'product', 'checkout', 'blog'][1 + intDiv(h_event, 4) % 4]),
            concat(channel, '_', toString(h_event % 8))) AS touchpoint,
    {_nested(_EVENTS)}[stage_no][1 + h_event % 4] AS event,
    fromUnixTimestamp64Milli(at_ms, 'UTC') AS occurred_at,
    fromUnixTimestamp64Milli(at_ms + 200 + h_event % 5000, 'UTC') AS received_at,
    concat('{{"item":"', {_array(_ITEMS)}[1 + h_cust % {len(_ITEMS)}],
           '","campaign":"', {_array(_CAMPAIGNS)}[1 + intDiv(h_event, 16) % {len(_CAMPAIGNS)}], '"}}') AS properties,
    if(stage_no = 3, toDecimal64(5 + (h_event % 19500) / 100, 4), NULL) AS revenue,
    if(stage_no = 3, ['EUR', 'USD', 'GBP'][1 + intDiv(h_cust, 7) % 3], '') AS currency,
    if(stage_no = 6 AND h_event % 10 < 7, toUInt8(intDiv(h_event, 64) % 11), NULL) AS nps,
    if(stage_no = 4 AND h_event % 10 < 3, toUInt8(1 + intDiv(h_event, 64) % 5), NULL) AS csat,
    CAST(NULL, 'Nullable(UInt8)') AS ces,
    if(stage_no = 6 AND h_event % 10 >= 7, toUInt8(1 + intDiv(h_event, 64) % 5), NULL) AS rating,
    if(ifNull(nps, 10) <= 3, 'Waited too long and nobody told me why.', '') AS comment,
    ['website', 'pos', 'app'][1 + h_event % 3] AS source,
    toUInt32(c % 6) AS kafka_partition,
    toUInt64(number) AS kafka_offset
FROM
(
    SELECT number, c, j, h_cust, h_event, h_cust % 5 = 0 AS anon,
           least(depth, 1 + intDiv(j * depth, {{per_customer:UInt32}})) AS stage_no,
           start_ms + j * gap_ms + h_event % gap_ms AS at_ms
    FROM
    (
        SELECT number,
               number % {{customers:UInt64}} AS c,
               intDiv(number, {{customers:UInt64}}) AS j,
               cityHash64(c) AS h_cust,
               cityHash64(number, 7) AS h_event,
               h_cust % 100 AS u,
               1 + (u >= 40) + (u >= 60) + (u >= 75) + (u >= 85) + (u >= 94) AS depth,
               {{start_ms:Int64}} + toInt64(intDiv(h_cust, 100) % {{span_ms:UInt64}}) AS start_ms,
               toInt64(3600000 * (1 + intDiv(h_cust, 1000) % 120)) AS gap_ms
        FROM numbers({{events:UInt64}})
    )
)
"""


IDENTITIES_SQL = f"""
INSERT INTO identities (anonymous_id, customer_id, traits, source, received_at)
SELECT concat('{ANONYMOUS_PREFIX}', toString(number)), concat('{CUSTOMER_PREFIX}', leftPad(toString(number), 7, '0')),
       '{{}}', 'website', fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
FROM numbers({{customers:UInt64}})
WHERE cityHash64(number) % 5 = 0
"""


def generate(client, customers: int, per_customer: int) -> int:
    """Insert customers * per_customer events and the identity links; returns the number of events."""
    events = customers * per_customer
    client.command(IDENTITIES_SQL, parameters={"customers": customers,
                                               "start_ms": int(DATA_START.timestamp() * 1000)})
    client.command(INSERT_SQL, parameters={
        "customers": customers, "per_customer": per_customer, "events": events,
        "start_ms": int(DATA_START.timestamp() * 1000), "span_ms": DATA_DAYS * 86_400_000,
    }, settings={"max_partitions_per_insert_block": 1000, "max_insert_threads": 2})
    return events


def customer_id(index: int) -> str:
    return f"{CUSTOMER_PREFIX}{index:07d}"
