"""Kafka's murmur2, ours beside the libraries', per key: `python -m bench.murmur2`.

The libraries: kafka-python's and aiokafka's (dependencies), and the compiled `murmurhash2` package
when it is installed (`pip install murmurhash2`; not a dependency). Each is first checked to give
ours' hashes on the same keys. See services/common/partitioner.py for the choice.
"""
from __future__ import annotations

import os
import random
import timeit
from collections.abc import Callable

from services.common.partitioner import murmur2

KAFKA_SEED = 0x9747B28C


def candidates() -> dict[str, Callable[[bytes], int]]:
    from aiokafka.partitioner import murmur2 as aiokafkas
    from kafka.partitioner.default import murmur2 as kafka_pythons

    found = {"ours": murmur2, "kafka-python": kafka_pythons, "aiokafka": aiokafkas}
    try:
        import murmurhash2
    except ImportError:
        pass
    else:
        found["murmurhash2"] = lambda data: murmurhash2.murmurhash2(data, KAFKA_SEED)
    return found


def main() -> None:
    rnd = random.Random(1)
    keys = ([f"customer-{rnd.randrange(10**9)}".encode() for _ in range(1000)]
            + [os.urandom(rnd.randrange(64)) for _ in range(1000)])
    for name, hash_of in candidates().items():
        same = all(hash_of(key) == murmur2(key) for key in keys)
        seconds = min(timeit.repeat(lambda hash_of=hash_of: [hash_of(key) for key in keys], number=10, repeat=5))
        print(f"{name:14s} {seconds / (10 * len(keys)) * 1e6:6.2f} µs per key, same hashes as ours: {same}")


if __name__ == "__main__":
    main()
