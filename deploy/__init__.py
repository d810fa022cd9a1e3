"""Deployment pieces: topic plan, embedded ClickHouse server, compose and cluster files."""
