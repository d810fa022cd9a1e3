"""Thin HTTP bindings: parse the request, run a query runner, return its model."""
