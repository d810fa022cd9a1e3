"""ClickHouse migrations for the event log and its projections."""
