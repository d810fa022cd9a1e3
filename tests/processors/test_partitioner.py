"""Our murmur2 gives Kafka's hashes: the same as kafka-python's and aiokafka's, on any key
(services/common/partitioner.py says why it is kept rather than theirs)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.partitioner import murmur2
from tests.conftest import examples


@settings(max_examples=examples(1000), deadline=None)
@given(key=st.binary(max_size=256))
def test_murmur2_is_kafka_pythons_and_aiokafkas(key):
    from aiokafka.partitioner import murmur2 as aiokafkas
    from kafka.partitioner.default import murmur2 as kafka_pythons

    assert murmur2(key) == kafka_pythons(key) == aiokafkas(key)


def test_known_hashes():
    # Kafka's own test vectors (org.apache.kafka.common.utils.UtilsTest.testMurmur2)
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829, b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             b"abc": 479470107}
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF
