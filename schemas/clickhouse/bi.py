"""The documented views BI tools may read (migrations 0003, 0005 and 0006) and their user's name."""
from __future__ import annotations

BI_USER = "bi"
BI_VIEWS = ("bi_journeys", "bi_stage_funnel_daily", "bi_events", "bi_feedback", "bi_nps_daily")
