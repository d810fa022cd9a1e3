"""Event schema shared by every service: pydantic models, JSON Schema, ClickHouse migrations."""
