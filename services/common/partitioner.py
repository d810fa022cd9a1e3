"""Kafka's default partitioner (murmur2 of the key), with the partition kept per key.

Ingest picks each event's partition here, the same choice as Kafka's Java client, which the journey
table relies on: a customer's changelog partition is their source partition. Customers come back
often, so their keys' partitions are kept.

Why our own murmur2 rather than a library's: kafka-python's `kafka.partitioner.default.murmur2`
(already a dependency) and aiokafka's give the same hashes but read the key byte by byte, which is
slower than the word-at-a-time loop here; the compiled `murmurhash2` package is faster and gives the
same hashes, but has had no release for years and would add a compiled dependency for what is a
cached, once-per-key cost. tests/processors/test_partitioner.py checks ours against kafka-python's
and aiokafka's on random keys; `python -m bench.murmur2` measures them side by side (bench/notes.md).
"""
from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@functools.cache
def _words(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the same results as kafka-python's and aiokafka's), with the key's 4-byte
    words unpacked in one call instead of byte by byte. A first-seen customer's key costs this once."""
    length = len(data)
    h = 0x9747B28C ^ length
    for k in _words(length >> 2).unpack_from(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest:
        end = length & ~3
        if rest == 3:
            h ^= data[end + 2] << 16
        if rest >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


@functools.lru_cache(maxsize=1 << 18)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: Sequence[int]) -> int:
    """The partition Kafka's default partitioner picks for `key` (partitions sorted by id)."""
    return partitions[_key_hash(key) % len(partitions)]


class KeyPartitions(dict[str, int]):
    """The partition of each identity key (str) for one set of partitions: a dict lookup per event
    instead of encoding the key and the LRU cache's bookkeeping. Bounded: cleared when full."""

    MAX_KEYS = 1 << 18

    def __init__(self, partitions: set[int] | frozenset[int]):
        super().__init__()
        self.partitions = frozenset(partitions)
        self._sorted = sorted(self.partitions)

    def add(self, key: str) -> int:
        """The key's partition, remembered (call it for keys not in the dict)."""
        if len(self) >= self.MAX_KEYS:
            self.clear()
        # murmur2 itself: this dict is the cache, the LRU one would only hold the same keys again
        partition = self[key] = self._sorted[(murmur2(key.encode()) & 0x7FFFFFFF) % len(self._sorted)]
        return partition
