"""Custom funnels: POST /v1/funnels and POST /v1/funnels/customers.

Semantics (tests/api/funnel_reference.py is the executable spec, by exhaustive search):

* Events: a customer's events with occurred_at in [start, end + window); copies of an event
  (same customer, occurred_at and event_id) count once. A step filter matches an event when
  every field it gives matches (stage, event, channel, touchpoint; properties: per key, a
  string equals a JSON string, a number equals a JSON number, a boolean a JSON boolean).
* A *path* is a list of distinct events e1..ek (k <= n steps), e_j matching step j's filter,
  t(e1) in [start, end) and t(e1) <= t(e_j) <= t(e1) + window (inclusive). One event may match
  several filters but fills at most one step of a path.
  - ordered: t(e1) <= t(e2) <= ... <= t(ek); events with equal timestamps may fill consecutive
    steps in either order.
  - strict: ordered, and no other event of the customer (whether it matches a filter or not)
    lies strictly between two consecutive steps in time. Events sharing a timestamp with a
    step never break strictness (their order within the millisecond is unknown).
  - any: steps 2..k in any order, each at or after step 1.
* Exclusions (filter X, from_step a, to_step b; 1 <= a < b <= n): a path of k >= b steps with
  an event matching X strictly between t(e_a) and t(e_b) is not valid; shorter paths are not
  affected, so the customer can still count up to step b - 1 through it. Any-order funnels
  allow only a = 1, b = n, with t(e_b) the path's latest event.
* A customer's *level* is the most steps of any valid path; customers[k] counts level >= k.
  conversion_from_first = customers[k] / customers[1], conversion_from_previous =
  customers[k] / customers[k-1]; 0.0 over a zero.
* Each step-1 event a is an *anchor*: depth(a) is the most steps of a valid path starting at
  a, and reach_k(a) the earliest time step k is completed from a: the least over valid k-step
  paths from a of their latest event's time. The *counted path* is the anchor with the
  largest depth, then the earliest (t(a), reach_2(a), ..., reach_n(a)), then the smallest
  breakdown value. It gives step_1_at = t(a), the breakdown value (first touch: the step-1
  event's) and the step times t_k = reach_k(a).
* median_seconds_from_previous[k]: median over customers with level >= k of t_k - t_{k-1}
  (mean of the middle two for even counts); null for step 1 and empty steps.
* breakdown: each value gets its own steps, from customers whose counted path's step-1 event
  has that value (channel, touchpoint, stage, event, or properties.<key>: strings as they are,
  '' when absent or null, other JSON values as JSON text). The top 25 values by step-1
  customers (then by value) are listed; the rest are merged into "(other)".
* time_to_convert: for customers with level n, t_n - t_1; median, average and a histogram of
  at most `bins` equal whole-second bins from the shortest time rounded down to a second.
* trends: per interval (UTC day, week from Monday, or month) of the counted step-1 time:
  entered = customers, converted = those with level n, conversion_rate = converted / entered.
* customers: step k, status converted (level >= k + 1) or dropped (level = k), by customer_id.

The SQL (paths.py: the shared base; ordered.py and any_order.py: one class per order; matching.py)
is one GROUP BY person_key pass (the customer's 64-bit hash; the
customers view groups by customer_id) with array functions; views.py aggregates it per view.
"""
from services.api.queries.custom_funnel.model import (
    FunnelCustomersQuery,
    FunnelCustomersResponse,
    FunnelQuery,
    FunnelResponse,
)
from services.api.queries.custom_funnel.runner import FunnelCustomersQueryRunner, FunnelQueryRunner

# The semantics, without the pointers to code, for the OpenAPI description.
DESCRIPTION = __doc__.split("\n\n", 2)[2].split("\n\nThe SQL")[0]

__all__ = [
    "DESCRIPTION",
    "FunnelCustomersQuery",
    "FunnelCustomersQueryRunner",
    "FunnelCustomersResponse",
    "FunnelQuery",
    "FunnelQueryRunner",
    "FunnelResponse",
]
