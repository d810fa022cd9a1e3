"""Ingest service: accepts touchpoint events over HTTP and publishes them to the broker."""
