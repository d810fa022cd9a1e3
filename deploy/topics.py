"""Create the topic plan's missing topics by hand, or print the plan (services/common/topics.py).

    python -m deploy.topics           # create what is missing
    python -m deploy.topics --plan    # print the plan: partitions, keys, consumers
"""
from __future__ import annotations

import logging
import sys

from services.common.settings import KafkaSettings
from services.common.topics import ensure_topics, plan_table


def main(argv: list[str]) -> int:
    if "--plan" in argv:
        print(plan_table(KafkaSettings()))
        return 0
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    print("created:", ensure_topics(KafkaSettings()) or "nothing (all topics exist)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
