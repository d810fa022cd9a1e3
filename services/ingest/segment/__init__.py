"""Segment HTTP Tracking API compatibility: /v1/track, /v1/page, /v1/screen, /v1/identify, /v1/alias,
/v1/batch with Segment's payloads, mapped to touchpoint events by rules (rules.py, mapping.py)."""
