"""Query figures over the generated data set: each insight's query module (through the same
clickhouse-connect HTTP client the API uses, against the embedded ClickHouse server) and its HTTP
endpoint, each run interleaved with its reference scan so that both see the same machine load."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import httpx

from bench import datagen
from bench.report import Figure, Report, cpu_seconds, dump_logs, p50
from deploy.local_stack import LocalStack, Ports
from services.api.queries.custom_funnel import FunnelQuery, FunnelQueryRunner
from services.api.queries.journey import JourneyQuery, JourneyQueryRunner
from services.api.queries.retention import RetentionQuery, RetentionQueryRunner
from services.api.queries.stage_funnel import StageFunnelQuery, StageFunnelQueryRunner
from services.common.clickhouse import connect, connect_migrated
from services.common.settings import ClickHouseSettings

START, END = datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
WINDOW_S = 30 * 86400
RANGE = {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}

STAGE_FUNNEL = {**RANGE, "window_seconds": WINDOW_S}
# Steps on event names: no event matches two steps, the common shape (the greedy chain fold).
CUSTOM_FUNNEL = {
    **RANGE, "window_seconds": WINDOW_S, "order": "ordered", "breakdown": "channel",
    "steps": [{"event": "ad_clicked"}, {"event": "product_viewed"}, {"event": "added_to_cart"},
              {"event": "order_completed"}, {"event": "delivery_received"}],
}
# Steps mixing stage and event filters, which one event can match together: the general
# (matching) path of custom_funnel/paths.py.
CUSTOM_FUNNEL_MIXED = {
    **CUSTOM_FUNNEL,
    "steps": [{"stage": "awareness"}, {"event": "product_viewed"}, {"event": "added_to_cart"},
              {"stage": "purchase"}, {"stage": "use"}],
}
RETENTION = {**RANGE, "interval": "week", "periods": 12, "cohort_stage": "purchase", "return_stage": "purchase"}

# The scan ceilings: the same rows the insights read, counted, without their per-customer work.
COUNT_RANGE = ("SELECT count() FROM events WHERE occurred_at >= toDateTime64('2025-01-01', 3, 'UTC') "
               "AND occurred_at < toDateTime64('2026-01-31', 3, 'UTC')")
COUNT_PER_CUSTOMER = ("SELECT count() FROM (SELECT customer_id, count() FROM events "
                      "WHERE occurred_at >= toDateTime64('2025-01-01', 3, 'UTC') "
                      "AND occurred_at < toDateTime64('2026-01-31', 3, 'UTC') GROUP BY customer_id)")
COUNT_CUSTOMER = "SELECT count() FROM events WHERE customer_id = {c:String}"


def run(report: Report, root: Path, customers: int, per_customer: int, rounds: int) -> None:
    stack = LocalStack(root, Ports.free(), read_token="bench-read-token",
                       extra_env={"API_LOG_LEVEL": "warning", "CLICKHOUSE_DATABASE": "journeyline"})
    try:
        stack.start("clickhouse")
        settings = ClickHouseSettings(clickhouse_url=stack.clickhouse_url,
                                      clickhouse_password=stack.clickhouse_password)
        client = connect_migrated(settings, send_receive_timeout=900)
        events = customers * per_customer
        size = f"{events / 1e6:g}M events / {customers / 1e6:g}M customers"
        t0 = time.perf_counter()
        datagen.generate(client, customers, per_customer)
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        client.command("OPTIMIZE TABLE events FINAL")  # a table that has been live a while is merged
        merged = time.perf_counter() - t0
        report.add(Figure("queries", "data set generation (INSERT ... SELECT numbers)", events / generated,
                          "events/s", size, detail=f"{generated:.0f} s to generate, {merged:.0f} s to merge "
                          "(OPTIMIZE FINAL), straight into ClickHouse through migrations' schema"))
        client.close()
        stack.start("api")
        _measure(report, stack, settings, customers, size, rounds)
    except Exception:
        dump_logs(stack)
        raise
    finally:
        stack.stop()
        stack.wipe()


def _measure(report: Report, stack: LocalStack, settings: ClickHouseSettings, customers: int, size: str,
             rounds: int) -> None:
    client = connect(settings, send_receive_timeout=300)
    server_pid = stack.components["clickhouse"].process.pid
    http = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.read_token}"},
                        timeout=300)
    rng = random.Random(7)

    def some_customer() -> str:
        return datagen.customer_id(rng.randrange(customers))

    def get(path: str, params: dict) -> Callable[[], object]:
        def call() -> None:
            response = http.get(path, params=params)
            response.raise_for_status()
        return call

    def count(sql: str) -> Callable[[], object]:
        return lambda: client.query(sql).result_rows

    stage_q = StageFunnelQuery(**STAGE_FUNNEL)
    custom_q = FunnelQuery(**CUSTOM_FUNNEL)
    retention_q = RetentionQuery(**RETENTION)

    _interleaved(report, server_pid, size, rounds, "stage funnel, 6 stages, 1 year, 30-day window", "<= 0.5", {
        "module": lambda: StageFunnelQueryRunner(client, stage_q).run(),
        "http": get("/v1/funnels/stages", STAGE_FUNNEL),
    }, {"COUNT over the same rows": count(COUNT_RANGE),
        "COUNT per customer (GROUP BY customer_id) over the same rows": count(COUNT_PER_CUSTOMER)})

    def post_funnel() -> None:
        http.post("/v1/funnels", json=CUSTOM_FUNNEL).raise_for_status()

    _interleaved(report, server_pid, size, max(3, rounds // 2),
                 "custom 5-step funnel (event steps), breakdown by channel", "<= 1.0", {
                     "module": lambda: FunnelQueryRunner(client, custom_q).run(),
                     "http": post_funnel,
                 }, {"COUNT over the same rows": count(COUNT_RANGE)})
    mixed_q = FunnelQuery(**CUSTOM_FUNNEL_MIXED)
    _interleaved(report, server_pid, size, 1,
                 "custom 5-step funnel (stage and event steps), breakdown by channel", "<= 1.0",
                 {"module": lambda: FunnelQueryRunner(client, mixed_q).run()},
                 {"COUNT over the same rows": count(COUNT_RANGE)}, warmup=False)

    _interleaved(report, server_pid, size, rounds, "retention, 12 weekly periods, 1 year of cohorts", "<= 1.0", {
        "module": lambda: RetentionQueryRunner(client, retention_q).run(),
        "http": get("/v1/retention", RETENTION),
    }, {"COUNT over the same rows": count(COUNT_RANGE)})

    def journey_module() -> None:
        JourneyQueryRunner(client, JourneyQuery(customer_id=some_customer())).run()

    def journey_http() -> None:
        http.get(f"/v1/customers/{some_customer()}/journey").raise_for_status()

    def point_count() -> None:
        client.query(COUNT_CUSTOMER, parameters={"c": some_customer()})

    _interleaved(report, server_pid, size, rounds * 5, "one customer's journey", "<= 0.05", {
        "module": journey_module, "http": journey_http,
    }, {"COUNT of one customer's events": point_count})
    http.close()
    client.close()


def _interleaved(report: Report, server_pid: int, size: str, rounds: int, name: str, target: str,
                 variants: dict[str, Callable[[], object]], references: dict[str, Callable[[], object]],
                 warmup: bool = True) -> None:
    """One warm-up each, then `rounds` rounds of every variant and reference in turn; p50 seconds,
    and the ClickHouse server's CPU seconds per run (what holds on a machine shared with other work)."""
    calls = {**{f"{name} ({v})": fn for v, fn in variants.items()}, **references}
    times: dict[str, list[float]] = {label: [] for label in calls}
    cpu: dict[str, list[float]] = {label: [] for label in calls}
    if warmup:
        for fn in calls.values():
            fn()
    for _ in range(rounds):
        for label, fn in calls.items():
            c0, t0 = cpu_seconds(server_pid), time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
            cpu[label].append(cpu_seconds(server_pid) - c0)
    main = None
    for label in calls:
        is_ref = label in references
        fig = Figure("queries", label, p50(times[label]), "s p50", size,
                     target="" if is_ref else target,
                     reference_of=(main or "") if is_ref else "",
                     detail=f"{rounds} runs{' after a warm-up' if warmup else ''}, min {min(times[label]):.3f} s, "
                            f"max {max(times[label]):.3f} s; ClickHouse CPU {p50(cpu[label]):.2f} s per run (p50)")
        if main is None:
            main = label
        report.add(fig)
