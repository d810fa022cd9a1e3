"""`journeyline load FILE.csv`: a café till's export loaded into the real stack, refused rows named by line."""
from __future__ import annotations

from services.cli.load import main
from services.client.sources import CsvEvents
from tests.conftest import WRITE_KEY, wait_for

EXPORT = """event_id,customer_id,stage,channel,touchpoint,event,occurred_at,revenue,currency,properties.item,nps,comment
csv-1,csv-cust-1,purchase,pos,cafe_counter_pos,order_completed,2025-02-03T07:42:00+01:00,4.20,EUR,flat white,,
csv-2,csv-cust-1,advocacy,app,cafe_app,survey_answered,2025-02-03T09:00:00Z,,,,9,Lovely oat latte
csv-3,csv-cust-2,brunch,pos,cafe_counter_pos,order_completed,2025-02-03T10:00:00Z,7.50,EUR,eggs,,
csv-4,csv-cust-2,purchase,pos,cafe_counter_pos,order_completed,2025-02-03T10:05:00Z,two,EUR,juice,,
csv-5,csv-cust-3,purchase,pos,cafe_counter_pos,order_completed,2025-02-03T11:00:00Z,3.10,EUR,"bun, warm",,,extra
csv-6,csv-cust-3,purchase,pos,cafe_counter_pos,order_completed,2025-02-03T11:30:00Z,2.90,EUR,espresso,,
"""


def test_rows_become_events():
    events = list(CsvEvents(EXPORT.splitlines(keepends=True)))
    assert events[0] == {"event_id": "csv-1", "customer_id": "csv-cust-1", "stage": "purchase", "channel": "pos",
                         "touchpoint": "cafe_counter_pos", "event": "order_completed",
                         "occurred_at": "2025-02-03T07:42:00+01:00", "revenue": 4.2, "currency": "EUR",
                         "properties": {"item": "flat white"}}
    assert events[1]["feedback"] == {"nps": 9, "comment": "Lovely oat latte"} and "revenue" not in events[1]
    assert "more cells than the header" in events[4].reason


def test_load_csv_names_refused_rows_by_line(stack, tmp_path, capsys, clickhouse):
    path = tmp_path / "till-export.csv"
    path.write_text(EXPORT)
    code = main([str(path), "--url", stack.ingest_url, "--write-key", WRITE_KEY, "--no-progress"])
    out = capsys.readouterr().out
    assert code == 3, out  # finished, with refused rows
    assert "3 accepted" in out and "3 refused" in out
    assert "refused csv-3: stage: Input should be 'awareness'" in out
    assert "refused csv-4: revenue: Input should be a valid number" in out
    assert "refused line 6: more cells than the header has columns: ['extra']" in out
    rows = "SELECT event_id, properties, nps FROM events WHERE event_id LIKE 'csv-%' ORDER BY event_id"
    wait_for(lambda: len(clickhouse.query(rows).result_rows) == 3, what="the three valid rows")
    assert clickhouse.query(rows).result_rows == [
        ("csv-1", '{"item":"flat white"}', None), ("csv-2", "{}", 9), ("csv-6", '{"item":"espresso"}', None)]
