"""The journey table's changelog as ChangelogWriter writes it, read back from the real broker: the
records Faust would write (raw key and value, no headers) in the partition its partitioner picks,
the last one per customer holding the state behind the `journeys` row."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kafka import KafkaConsumer

from services.common.partitioner import partition_for
from services.processors.journey_state import JourneyState
from tests.conftest import wait_for

T0 = datetime(2007, 5, 1, tzinfo=timezone.utc)
CHANGELOG = "journeyline-processors-journeys-changelog"


def test_changelog_holds_each_customers_latest_state_in_its_partition(stack, ingest, clickhouse):
    customers = [f"clog-cust-{c}" for c in range(12)]
    events = [{"event_id": f"clog-{c}-{i}", "customer_id": cid, "stage": "use", "channel": "web",
               "touchpoint": "clog", "event": "e",
               "occurred_at": (T0 + timedelta(hours=c, minutes=i)).isoformat().replace("+00:00", "Z")}
              for c, cid in enumerate(customers) for i in range(1 + c % 4)]
    for i in range(0, len(events), 7):  # several batches: a customer's state is written more than once
        assert ingest.post("/v1/events", json={"events": events[i:i + 7]}).status_code == 202
    expected = {cid: 1 + c % 4 for c, cid in enumerate(customers)}
    wait_for(lambda: dict(clickhouse.query("SELECT customer_id, events FROM journeys FINAL "
                                           "WHERE customer_id LIKE 'clog-cust-%'").result_rows) == expected,
             what="journeys of the clog- customers")

    consumer = KafkaConsumer(CHANGELOG, bootstrap_servers=stack.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000)
    latest: dict[str, tuple[int, bytes, list]] = {}
    for record in consumer:
        if record.key.startswith(b"clog-cust-"):
            latest[record.key.decode()] = (record.partition, record.value, record.headers)
    partitions = sorted(consumer.partitions_for_topic(CHANGELOG))
    consumer.close()
    assert sorted(latest) == sorted(customers)
    for cid, (partition, value, headers) in latest.items():
        assert partition == partition_for(cid.encode(), partitions)
        assert not headers
        state = JourneyState.loads(value)
        assert state.events == expected[cid] and len(state.recent) == expected[cid]
