"""The Faust app: touchpoint topic in, journey table, dead-letter topic out."""
from __future__ import annotations

from services.common.compat.faust_transport import App
from services.processors.settings import ProcessorSettings

settings = ProcessorSettings()

app = App(
    settings.processor_app_id,
    broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
    store="memory://",
    datadir=settings.processor_data_dir,
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    consumer_auto_offset_reset="earliest",
    consumer_group_instance_id=settings.processor_instance_id,
    processing_guarantee=settings.processing_guarantee,
    broker_session_timeout=settings.broker_session_timeout_s,
    broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
    producer_acks=-1,
    web_port=settings.web_port,
    web_host="127.0.0.1",
    # The topics come from the plan (services/common/topics.py), created before the worker starts.
    # Faust declares only its internal topics: the journeys changelog, which the plan has already
    # created with its settings, and its assignor's leader topic, which the plan leaves to Faust.
    topic_allow_declare=True,
)

touchpoints = app.topic(
    settings.topic_touchpoints,
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=settings.topic_partitions,
)
dead_letters = app.topic(
    settings.topic_dead_letter,
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=settings.topic_partitions,
)

# customer_id -> JourneyState bytes. Keys are the raw customer_id bytes, as on the topic, so the
# changelog partition (default partitioner) is the customer's source partition. The agent writes
# it through services/processors/changelog.py (record batches), not `journeys[key] = value`.
journeys = app.Table(
    "journeys",
    default=None,
    key_type=bytes, value_type=bytes,
    partitions=settings.topic_partitions,
    use_partitioner=True,
)
