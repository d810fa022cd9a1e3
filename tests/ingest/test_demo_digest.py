"""The demo data stays the same for the same seed and date: a digest of the generated events (their
JSON, keys in order) per (customers, seed), taken before the journeys were split into stage helpers.
A change to the demo that is meant shows here: check the new events, then update the digests."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from services.demo import generate

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
DIGESTS = {  # (customers, seed): (events, SHA-256 of orjson.dumps(events))
    (300, 7): (2756, "b1dd7438e7f675126767fbb294eedb9876c25e1e841e6c8aee975c2d98fa0bd5"),
    (57, 11): (475, "8aa97682cfe9389f7dd0f91d0e4333da9e59a525037bd7297367f118d0c7de2e"),
}


@pytest.mark.parametrize(("customers", "seed"), sorted(DIGESTS))
def test_same_seed_and_date_give_the_same_events(customers, seed):
    events = generate(customers=customers, seed=seed, now=NOW)
    assert (len(events), hashlib.sha256(orjson.dumps(events)).hexdigest()) == DIGESTS[customers, seed]
