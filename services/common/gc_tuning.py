"""Garbage-collector settings for a service process that handles many requests at once.

A batch request keeps thousands of container objects alive while it is in flight (validated
events, their dicts, datetimes, the records built from them). With CPython's default first
threshold (700 net allocations) they set off a young collection on nearly every request, survive
it because they are still in use, get promoted, and make the older, costly collections frequent
too: a fifth of ingest's CPU went to the collector. Reference counting still frees every acyclic
object at once; only cycles wait for a collection, now after GEN0_THRESHOLD net allocations.
"""
from __future__ import annotations

import gc

GEN0_THRESHOLD = 100_000


def tune_for_service(gen0: int = GEN0_THRESHOLD, older: tuple[int, int] | None = None) -> None:
    """Call once the app is built, before serving: freeze what start-up built, collect young
    objects every `gen0` net allocations (`older`: the other two thresholds, else unchanged)."""
    gc.collect()
    gc.freeze()  # what start-up built (modules, the app, its schemas) lives for good: out of every scan
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, *(older or (gen1, gen2)))
