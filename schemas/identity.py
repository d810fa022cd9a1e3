"""Identify calls: an anonymous visitor (browser, app install) becomes a known customer.

Published by ingest to journeyline.identities.v1 (keyed by anonymous_id) and written by the
processors to the ClickHouse `identities` table (migration 0005_identity.sql explains the
resolution: an anonymous id belongs to the first customer it was linked to).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from schemas.events import client_customer_id, storable_object


class IdentityLink(BaseModel):
    """This anonymous id is that customer; an empty anonymous_id records the traits only (a Segment
    identify call with a userId alone)."""

    model_config = ConfigDict(extra="forbid")

    anonymous_id: Annotated[str, Field(max_length=256)]
    customer_id: Annotated[str, Field(min_length=1, max_length=256)]
    traits: dict[str, Any] = Field(default_factory=dict, description="At most 32 KiB as JSON")

    @field_validator("customer_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return client_customer_id(value)

    @field_validator("traits")
    @classmethod
    def _traits_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return storable_object("traits", value)


class Identify(IdentityLink):
    """The native identify call: POST /v1/identify {anonymous_id, customer_id, traits}."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "anonymous_id": "web-7f3a9c",
            "customer_id": "cust-0042",
            "traits": {"name": "Ana", "favourite": "flat white", "email_opt_in": True},
        }]},
    )

    anonymous_id: Annotated[str, Field(min_length=1, max_length=256)]


class RecordedIdentify(IdentityLink):
    """An accepted identify call on the identities topic, stamped by ingest."""

    model_config = ConfigDict(extra="ignore")  # a newer writer may add fields
    received_at: AwareDatetime
    source: Annotated[str, Field(max_length=128)] = "default"
