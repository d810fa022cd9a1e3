"""Recommendations: a hand-worked basket set (favourites and their ties, what counts as bought,
similar customers, ranking and limit), 404 / empty answers, validation, and a property test
against tests/api/experience_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api import experience_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
T0 = datetime(2016, 4, 1, 9, tzinfo=UTC)


def buy(customer: str, item: str, n: int = 0, stage: str = "purchase", **fields) -> dict:
    return make_event(customer, stage, T0 + timedelta(hours=n), properties={"item": item}, **fields)


def recommend(api, customer: str, **params) -> dict:
    response = api.get(f"/v1/customers/{customer}/recommendations", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_items_of_customers_sharing_favourites(api, events):
    evs = [
        # cx-me: latte 3 (one a reorder: retention with revenue), scone 2, then mocha and tea 1 each:
        # favourites latte, scone, mocha (the tie goes by name)
        buy("cx-me", "latte", 0), buy("cx-me", "latte", 1), buy("cx-me", "latte", 2, "retention", revenue=3),
        buy("cx-me", "scone", 3), buy("cx-me", "scone", 4), buy("cx-me", "tea", 5), buy("cx-me", "mocha", 6),
        buy("cx-me", "bagel", 7, "consideration"),  # only looked at: still to recommend
        buy("cx-n1", "latte"), buy("cx-n1", "bagel"), buy("cx-n1", "juice"), buy("cx-n1", "juice", 1),
        buy("cx-n2", "scone"), buy("cx-n2", "bagel"),
        buy("cx-n3", "mocha"), buy("cx-n3", "cookie"),
        buy("cx-n4", "tea"), buy("cx-n4", "croissant"),  # tea is not a favourite: not similar
        buy("cx-n5", "latte", 0, "use"), buy("cx-n5", "pie"),  # latte used, not bought: not similar
        buy("cx-n6", "latte"), buy("cx-n6", "juice"),
    ]
    events.insert(evs)
    events.insert(evs[8:10])  # duplicate copies

    body = recommend(api, "cx-me")
    assert body == {
        "customer_id": "cx-me",
        "based_on": ["latte", "scone", "mocha"],
        "similar_customers": 4,  # n1, n2, n3, n6
        "recommendations": [
            {"item": "bagel", "customers": 2, "score": 0.5},  # n1, n2
            {"item": "juice", "customers": 2, "score": 0.5},  # n1, n6 (n1 twice: one customer)
            {"item": "cookie", "customers": 1, "score": 0.25},  # n3
        ],
    }
    assert body == ref.recommendations(evs, "cx-me")
    limited = recommend(api, "cx-me", limit=2)
    assert [r["item"] for r in limited["recommendations"]] == ["bagel", "juice"]
    assert limited == ref.recommendations(evs, "cx-me", 2)
    # n4's view: favourites tea and croissant; only cx-me bought tea
    assert recommend(api, "cx-n4") == ref.recommendations(evs, "cx-n4") == {
        "customer_id": "cx-n4", "based_on": ["croissant", "tea"], "similar_customers": 1,
        "recommendations": [{"item": "latte", "customers": 1, "score": 1.0},
                            {"item": "mocha", "customers": 1, "score": 1.0},
                            {"item": "scone", "customers": 1, "score": 1.0}]}


def test_nothing_to_recommend_is_an_empty_list(api, events):
    events.insert([
        make_event("cx-browser", "awareness", T0),  # never bought anything
        buy("cx-only", "latte"),  # nobody else bought latte
        buy("cx-same", "tea"), buy("cx-same2", "tea"),  # the similar customer has nothing new
    ])
    assert recommend(api, "cx-browser") == {"customer_id": "cx-browser", "based_on": [], "similar_customers": 0,
                                            "recommendations": []}
    assert recommend(api, "cx-only")["recommendations"] == []
    assert recommend(api, "cx-same") == {"customer_id": "cx-same", "based_on": ["tea"], "similar_customers": 1,
                                         "recommendations": []}


def test_unknown_customer_is_404(api, events):
    events.insert([buy("cx-a", "latte")])
    response = api.get("/v1/customers/cx-nobody/recommendations")
    assert response.status_code == 404
    assert response.json() == {"detail": "Customer 'cx-nobody' has no events"}


@pytest.mark.parametrize("limit", ["0", "51", "many", "2.5"])
def test_bad_limit_is_422(api, limit):
    response = api.get("/v1/customers/cx-a/recommendations", params={"limit": limit})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "limit"]]


@settings(max_examples=examples(30), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event, max_events=9), limit=st.integers(1, 4))
def test_matches_reference(api, events, data, limit):
    unique, batches = data
    events.truncate()
    for batch in batches:
        events.insert(batch)
    for customer in [*ref.CUSTOMERS, "nobody"]:
        response = api.get(f"/v1/customers/{customer}/recommendations", params={"limit": limit})
        expected = ref.recommendations(unique, customer, limit)
        if expected is None:
            assert response.status_code == 404, response.text
        else:
            assert response.status_code == 200, response.text
            assert response.json() == expected
