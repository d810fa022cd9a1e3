"""Journeyline services: ingest, processors, query API."""
