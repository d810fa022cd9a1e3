"""Item recommendations for one customer: what customers with the same favourites also buy.

Semantics (tests/api/experience_reference.py is the executable spec):

* Bought items: as in the profile (profile.BOUGHT_SQL): properties.item of events of stage
  purchase or with revenue. A customer's favourites: their top 3 bought items by unique
  events, ties by name (the head of the profile's favourite_items).
* Similar customers: the other customers who bought at least one of those favourites (ever).
* Candidates: items some similar customer bought and this customer never bought.
  customers = similar customers who bought the item (a co-occurrence count, in customers, so
  one heavy buyer counts once); score = customers / similar_customers, in (0, 1]: the share of
  customers like this one who buy it.
* Order: customers descending (equivalently score), ties by item name; the first `limit`.
  No favourites (nothing bought) or nothing left to suggest: an empty list.

SQL: a small query on the customer's rows gives their favourites and everything they bought;
then one query over the bought events of all customers: per customer the set of items
(groupUniqArray) and whether they are similar, then ARRAY JOIN and count per item. No
per-customer Python.
"""
from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, ConfigDict, Field

from services.api.queries.base import PERSON_FILTER, QueryRunner
from services.api.queries.profile import BOUGHT_SQL, ITEM_SQL

FAVOURITES = 3
DEFAULT_LIMIT = 5
MAX_LIMIT = 50

# Favourites: items of the customer's unique bought events, by count descending then name.
CUSTOMER_SQL = f"""
SELECT sum(n) AS events,
       arrayMap(x -> x.2, arraySort(groupArrayIf((-toInt64(n), key), key != ''))) AS bought
FROM
(
    SELECT key, count() AS n
    FROM
    (
        SELECT event_id, any({ITEM_SQL}) AS item, max({BOUGHT_SQL}) AS is_bought
        FROM person_events
        WHERE {PERSON_FILTER}
        GROUP BY event_id
    )
    -- every event stays in (key '' when not bought): events = 0 only for an unknown customer
    GROUP BY if(is_bought, item, '') AS key
)
"""

# '' is never an item (filtered out), so the '' entry joined to every basket counts the similar
# customers in the same pass.
SQL = f"""
SELECT item, countIf(similar) AS customers
FROM
(
    SELECT groupUniqArray(item) AS items,
           customer_id != {{customer_id:String}} AND hasAny(items, {{favourites:Array(String)}}) AS similar
    FROM
    (
        SELECT customer_id, {ITEM_SQL} AS item
        FROM person_events
        WHERE {BOUGHT_SQL}
    )
    WHERE item != ''
    GROUP BY customer_id
    HAVING similar
)
ARRAY JOIN arrayPushFront(items, '') AS item
WHERE NOT has({{owned:Array(String)}}, item)
GROUP BY item
ORDER BY item = '' DESC, customers DESC, item
LIMIT {{limit:UInt16}} + 1
"""


class RecommendationsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="At most this many items; 1 to 50, default 5",
                                examples=[DEFAULT_LIMIT])] = DEFAULT_LIMIT


class Recommendation(BaseModel):
    item: str
    customers: Annotated[int, Field(ge=1, description="Similar customers who bought it")]
    score: Annotated[float, Field(gt=0, le=1, description="customers / similar_customers")]


class RecommendationsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": "cust-0042",
        "based_on": ["flat white", "cinnamon bun", "oat latte"],
        "similar_customers": 180,
        "recommendations": [
            {"item": "banana bread", "customers": 72, "score": 0.4},
            {"item": "chai latte", "customers": 45, "score": 0.25},
        ],
    }]})

    customer_id: str
    based_on: Annotated[list[str], Field(description="The customer's favourite items (top 3 bought)")]
    similar_customers: Annotated[int, Field(ge=0, description="Other customers who bought one of them")]
    recommendations: Annotated[
        list[Recommendation],
        Field(description="Items similar customers bought and this one never did, by customers descending, "
              "ties by item; empty when there is nothing to suggest"),
    ]


class RecommendationsQueryRunner(QueryRunner[RecommendationsQuery, RecommendationsResponse | None]):
    def __init__(self, client: Client, customer_id: str, query: RecommendationsQuery, *,
                 timeout_seconds: float | None = None) -> None:
        super().__init__(client, query, timeout_seconds=timeout_seconds)
        self.customer_id = customer_id

    def run(self) -> RecommendationsResponse | None:
        """None when the log has no event of the customer."""
        events, owned = self.select(CUSTOMER_SQL, {"customer_id": self.customer_id}).result_rows[0]
        if not events:
            return None
        favourites = list(owned[:FAVOURITES])
        similar, recommendations = 0, []
        if favourites:
            rows = self.select(SQL, {"customer_id": self.customer_id, "favourites": favourites,
                                     "owned": list(owned), "limit": self.query.limit}).result_rows
            if rows:  # the '' row comes first: the number of similar customers
                similar = int(rows[0][1])
                recommendations = [Recommendation(item=item, customers=int(n), score=int(n) / similar)
                                   for item, n in rows[1:]]
        return RecommendationsResponse(customer_id=self.customer_id, based_on=favourites,
                                       similar_customers=similar, recommendations=recommendations)
