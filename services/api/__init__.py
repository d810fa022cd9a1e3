"""Journeyline query API: read-only insights over the ClickHouse event log.

Layout follows PostHog's insight code: one query module per insight under `queries/`
(each owns its request model, response model and SQL) on a shared base, and thin
routers under `routers/` that only bind HTTP to a query runner.
"""
