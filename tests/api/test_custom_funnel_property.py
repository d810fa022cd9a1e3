"""Property tests: custom funnels in ClickHouse agree with the exhaustive-search reference.

Random small event sets with many ties (a 0.5 s grid, windows of whole seconds), overlapping and
repeated step filters (one event matching several steps), exact copies of events inserted again
in separate inserts (unmerged), random arrival order; all three orders, exclusions, breakdowns.
The per-customer answer (level, counted step 1, reach times, breakdown value) is compared first,
then each view over the API.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api.queries.custom_funnel.model import FunnelQuery
from services.api.queries.custom_funnel.runner import SETTINGS, build_paths
from tests.api import funnel_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
T0 = datetime(2021, 6, 30, 23, 59, 55, tzinfo=UTC)  # data crosses a monthly partition boundary
T0_MS = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
STEP_MS = 500

FILTERS = [
    {"event": "view"}, {"event": "cart"}, {"event": "buy"}, {"event": "view"}, {"event": "cart"},
    {"channel": "web"}, {"stage": "purchase"}, {"event": "view", "channel": "app"},
    {"properties": {"k": "x"}}, {"properties": {"k": 1}}, {"properties": {"k": True}},
    {"stage": "awareness", "properties": {"k": "y"}},
]
# No event matches two of these: funnels of them take the chain fast path (ordered, no exclusions).
DISJOINT = [{"event": "view", "channel": "web"}, {"event": "view", "channel": "app"}, {"event": "cart"},
            {"event": "buy"}, {"event": "pay"}]
PROPS = [{}, {}, {"k": "x"}, {"k": "y"}, {"k": 1}, {"k": 1.0}, {"k": True}, {"k": "1"}]
BREAKDOWNS = [None, "channel", "event", "stage", "properties.k"]

@st.composite
def funnels(draw, chain: bool = False):
    """chain: ordered, no exclusions, steps no event can match twice (the SQL's fast path)."""
    n = draw(st.integers(2, 4))
    order = "ordered" if chain else draw(st.sampled_from(["ordered", "ordered", "strict", "any"]))
    exclusions = []
    for _ in range(0 if chain else draw(st.sampled_from([0, 0, 1, 2]))):
        a, b = (1, n) if order == "any" else sorted(draw(st.lists(st.integers(1, n), min_size=2, max_size=2,
                                                                  unique=True)))
        exclusions.append({"filter": draw(st.sampled_from(FILTERS)), "from_step": a, "to_step": b})
    start_slot = draw(st.integers(0, 6))
    steps = (draw(st.permutations(DISJOINT))[:n] if chain or draw(st.booleans())
             else draw(st.lists(st.sampled_from(FILTERS), min_size=n, max_size=n)))
    return {
        "steps": steps,
        "order": order, "exclusions": exclusions,
        "window_seconds": draw(st.sampled_from([1, 1, 1, 2, 2, 3, 5, 8])),
        "start_slot": start_slot, "end_slot": draw(st.integers(start_slot + 1, start_slot + 10)),
        "breakdown": draw(st.sampled_from(BREAKDOWNS)),
    }


def event_for(draw, f: dict) -> tuple:
    """Attributes of an event matching filter f (random where f says nothing)."""
    return (
        f.get("event") or draw(st.sampled_from(["view", "cart", "buy", "pay"])),
        f.get("stage") or draw(st.sampled_from(["awareness", "consideration", "purchase"])),
        f.get("channel") or draw(st.sampled_from(["web", "web", "app"])),
        f.get("properties") or draw(st.sampled_from(PROPS)),
    )


@st.composite
def datasets(draw, fs, customers=tuple(f"f{i:02d}" for i in range(12))):
    """Per customer: journeys that follow one of the funnels' steps (a random prefix, later steps
    shuffled now and then, 0-3 slots apart so ties are common), exclusion and noise events
    among them and elsewhere."""
    events, copies = [], []

    def add(customer, slot, attrs):
        name, stage, channel, props = attrs
        e = make_event(customer, stage, T0 + timedelta(milliseconds=slot * STEP_MS), event=name,
                       channel=channel, properties=props)
        events.append(e)
        copies.extend([e] * draw(st.sampled_from([0, 0, 0, 1])))

    for customer in customers[: draw(st.integers(4, len(customers)))]:
        f = draw(st.sampled_from(fs))
        for _ in range(draw(st.integers(1, 2))):
            slot = draw(st.integers(0, 12))
            steps = list(enumerate(f["steps"][: draw(st.integers(1, len(f["steps"])))], start=1))
            if len(steps) > 2 and draw(st.sampled_from([False, False, True])):  # a step missing
                del steps[draw(st.integers(1, len(steps) - 1))]
            if draw(st.booleans()):  # later steps out of order (any-order funnels)
                steps = steps[:1] + draw(st.permutations(steps[1:]))
            for k, step in steps:
                add(customer, slot, event_for(draw, step))
                slot += draw(st.sampled_from([0, 0, 1, 1, 2, 3]))
                for ex in f["exclusions"]:  # an exclusion event right after its from_step
                    if ex["from_step"] == k and draw(st.booleans()):
                        slot += draw(st.sampled_from([0, 1, 1]))
                        add(customer, slot, event_for(draw, ex["filter"]))
                if draw(st.sampled_from([False, False, True])):  # noise: breaks strict funnels
                    add(customer, slot, event_for(draw, {}))
                    slot += draw(st.sampled_from([0, 1, 1]))
        for ex in f["exclusions"]:  # and one anywhere
            add(customer, draw(st.integers(0, 16)), event_for(draw, ex["filter"]))
        for _ in range(draw(st.integers(0, 2))):
            add(customer, draw(st.integers(0, 16)), event_for(draw, {}))
    physical = events + copies
    arrival = [physical[i] for i in draw(st.permutations(range(len(physical))))]
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=2)))
    return physical, [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]


@st.composite
def scenarios(draw, customers=tuple(f"f{i:02d}" for i in range(12))):
    f = draw(funnels())
    return f, draw(datasets([f], customers))


@st.composite
def two_funnel_scenarios(draw):
    """A funnel and a fast-path one, half of the customers following each."""
    f, g = draw(funnels()), draw(funnels(chain=True))
    return (f, g), draw(datasets([f, g]))


def load(writer, data) -> list[dict]:
    physical, batches = data
    writer.truncate()
    for batch in batches:
        writer.insert(batch)
    return [{**e, "occurred_ms": T0_MS + (e["occurred_at"] - T0) // timedelta(milliseconds=1)} for e in physical]


def body(f: dict, **extra) -> dict:
    return {
        "steps": f["steps"], "order": f["order"], "exclusions": f["exclusions"], "window_seconds": f["window_seconds"],
        "start": (T0 + timedelta(milliseconds=f["start_slot"] * STEP_MS)).isoformat(),
        "end": (T0 + timedelta(milliseconds=f["end_slot"] * STEP_MS)).isoformat(), **extra,
    }


def reference_query(f: dict) -> dict:
    return {**f, "window_ms": f["window_seconds"] * 1000, "start_ms": T0_MS + f["start_slot"] * STEP_MS,
            "end_ms": T0_MS + f["end_slot"] * STEP_MS}


def property_settings(count: int) -> settings:
    return settings(max_examples=examples(count), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@property_settings(70)
@given(scenario=two_funnel_scenarios())
def test_counted_path_per_customer_matches_reference(chdb, events, scenario):
    funnel_pair, data = scenario
    rows = load(events, data)
    for f in funnel_pair:
        q = FunnelQuery.model_validate(body(f, breakdown=f["breakdown"]))
        sql, params = build_paths(q, q.breakdown)
        start = params["start_ms"]
        got = {c: {"level": lv, "t1": start + t1, "reach": [r if r < 0 else start + r for r in reach], "bval": b}
               for c, lv, t1, reach, b in chdb.query(sql, parameters=params, settings=SETTINGS).result_rows}
        # Rows are keyed by person_key, the customer's cityHash64.
        want = ref.customer_paths(rows, reference_query(f))
        keys = dict(chdb.query("SELECT c, cityHash64(c) FROM (SELECT arrayJoin({ids:Array(String)}) AS c)",
                               parameters={"ids": list(want)}).result_rows) if want else {}
        assert got == {keys[c]: path for c, path in want.items()}, f


def _approx(x):
    return pytest.approx(x) if isinstance(x, float) else x


def assert_steps_equal(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for g, x in zip(got, expected, strict=True):
        assert g == {k: _approx(v) for k, v in x.items()}, (got, expected)


@property_settings(12)
@given(scenario=scenarios())
def test_steps_and_breakdown_views_match_reference(api, events, scenario):
    f, data = scenario
    rows = load(events, data)
    response = api.post("/v1/funnels", json=body(f, breakdown=f["breakdown"]))
    assert response.status_code == 200, response.text
    answer = response.json()
    paths = ref.customer_paths(rows, reference_query(f))
    names = [FunnelQuery.model_validate(body(f)).steps[k].display_name() for k in range(len(f["steps"]))]
    assert_steps_equal(answer["steps"], ref.steps_view(paths.values(), names))
    expected = ref.breakdown_view(paths, names) if f["breakdown"] else []
    assert [b["value"] for b in answer["breakdown"]] == [b["value"] for b in expected]
    for g, x in zip(answer["breakdown"], expected, strict=True):
        assert_steps_equal(g["steps"], x["steps"])


@property_settings(10)
@given(scenario=scenarios(), bins=st.integers(1, 4))
def test_time_to_convert_view_matches_reference(api, events, scenario, bins):
    f, data = scenario
    rows = load(events, data)
    response = api.post("/v1/funnels", json=body(f, view="time_to_convert", bins=bins))
    assert response.status_code == 200, response.text
    expected = ref.time_to_convert_view(ref.customer_paths(rows, reference_query(f)), len(f["steps"]), bins)
    assert response.json() == {"view": "time_to_convert", **{k: _approx(v) for k, v in expected.items()}}


@property_settings(10)
@given(scenario=scenarios(),
       status=st.sampled_from(["converted", "dropped"]), step=st.integers(1, 4), limit=st.integers(1, 3))
def test_customers_pages_match_reference(api, events, scenario, status, step, limit):
    f, data = scenario
    rows = load(events, data)
    step = min(step, len(f["steps"]) - (status == "converted"))
    expected = ref.customers_view(ref.customer_paths(rows, reference_query(f)), step, status)
    got, cursor = [], None
    for _ in range(len(expected) + 2):
        response = api.post("/v1/funnels/customers", json=body(f, step=step, status=status, limit=limit,
                                                                 **({"cursor": cursor} if cursor else {})))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["customers"]) <= limit
        got += [(c["customer_id"], c["reached_step"], c["step_1_at"]) for c in page["customers"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == [(c, lv, stamp(t1)) for c, lv, t1 in expected]


def stamp(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
