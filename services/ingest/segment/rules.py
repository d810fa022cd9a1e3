"""Which stage (and channel, touchpoint) a Segment call maps to: a YAML rules file.

`events` maps event names to {stage, channel?, touchpoint?}; `page` and `screen` give the mapping of
page and screen calls. The built-in default_rules.yaml follows Segment's spec event names;
SEGMENT_RULES_FILE replaces it. The file is checked at start-up: a bad rule stops the service with
a message naming it, rather than dead-lettering every event later.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.events import Channel, Stage

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage
    channel: Channel | None = None
    touchpoint: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: dict[str, Rule] = Field(default_factory=dict)
    page: Rule | None = None
    screen: Rule | None = None


class RulesError(ValueError):
    pass


def load_rules(path: str | Path | None = None) -> Rules:
    path = Path(path) if path else DEFAULT_RULES
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return Rules.model_validate(data)
    except OSError as exc:
        raise RulesError(f"cannot read Segment rules file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"Segment rules file {path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RulesError(f"Segment rules file {path}: {problems}") from exc
