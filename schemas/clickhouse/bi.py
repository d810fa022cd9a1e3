"""The documented views BI tools may read (migration 0003_bi_views.sql) and their user's name."""
from __future__ import annotations

BI_USER = "bi"
BI_VIEWS = ("bi_journeys", "bi_stage_funnel_daily", "bi_events")
