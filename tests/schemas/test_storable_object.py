"""Free-form objects (properties, traits): non-finite numbers are refused with their path, nulls are
kept, and the size limit holds."""
from __future__ import annotations

import math

import pytest

from schemas.events import MAX_PROPERTIES_BYTES, storable_object


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, float("1e400")])
def test_non_finite_numbers_are_refused_with_their_path(bad):
    value = {"basket": {"items": [1.5, {"price": bad}], "note": None}}
    with pytest.raises(ValueError, match=r"properties\.basket\.items\[1\]\.price must be a finite number"):
        storable_object("properties", value)


def test_nulls_and_finite_numbers_are_kept():
    value = {"a": None, "b": [None, 1e308, -0.0], "c": {"d": None}}
    assert storable_object("properties", value) is value


def test_size_limit_and_unstorable_integers():
    with pytest.raises(ValueError, match="bytes as JSON"):
        storable_object("properties", {"x": "y" * MAX_PROPERTIES_BYTES})
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        storable_object("properties", {"x": 2**70})
