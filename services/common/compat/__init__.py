"""Every use of a third-party library's internals, fenced here: private names (`_name`), copied
code and undocumented attributes. Nothing outside this package touches them; deploy/ imports what
it needs from here. tests/test_third_party.py checks each entry below against the installed
library (it exists, with the signature or source our code was written against) and that no code
in services/ or deploy/ outside this package uses a library's private name. pyproject.toml pins
faust-streaming, aiokafka and prometheus-fastapi-instrumentator to the minor versions tested; on
an upgrade, run that test first and read the library's change to each name it reports.

Importing this package imports no library: each module below imports only its own.

faust-streaming 0.15 (with mode-streaming), in faust_take.py, used by every agent
(services/processors/journey_agent.py, identity_agent.py, feedback_agent.py):
- `faust.streams.Stream.take_events` (copied): our take_events is this code with the batch closed
  at a weight (the events a record holds) instead of a record count.
- `faust.streams.Stream._enable_passive`: the stream is read in the background while the caller
  holds a batch, as Faust's take_events does.
- `faust.streams.Stream._processors`: our buffering processor is removed when the generator ends;
  the stream has add_processor but no public way to remove one.
- `faust.streams.Stream._active_agens`: the generator is registered so that Stream.on_stop closes
  it, as it closes Faust's own take generators.

faust-streaming and aiokafka 0.14, in faust_transport.py (the processors' App, the two fixes for
fetches that overlap a rebalance; that module's docstring tells them):
- `faust.App._new_transport`: overridden so that the app uses our transport.
- `faust.transport.drivers.aiokafka.Consumer._new_consumer_thread`: overridden, our consumer thread.
- `faust.transport.drivers.aiokafka.Consumer._thread`: read for the thread's seek counts.
- `faust.transport.consumer.Consumer.getmany` (copied): Faust's, plus the seek-count check.
- `faust.transport.consumer.Consumer._wait_next_records`: called by the copied getmany.
- `faust.transport.consumer.Consumer._buffered_partitions`: read by the copied getmany.
- `faust.transport.drivers.aiokafka.Consumer._to_message`: called by the copied getmany.
- `faust.transport.consumer.Consumer._read_offset`: set and cleared by the copied _seek_wait.
- `faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._fetch_records`: overridden to fetch for
  a snapshot of the active partitions (fix 1).
- `faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._seek_wait` (copied): overridden, Faust's
  with each seek counted (fix 2).
- `faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._ensure_consumer`: the aiokafka consumer
  that our seek_to_committed seeks.
- `aiokafka.AIOKafkaConsumer.seek_to_committed` (copied): our thread's seek_to_committed does what it
  does, reading every committed offset before the first seek.
- `faust.transport.consumer.Consumer._committed_offset`: `committed_offsets`, the offsets Faust
  committed, for the consumer lag at /metrics (services/processors/web.py).
- `faust.transport.drivers.aiokafka.Producer._ensure_producer`: `aiokafka_producer`, for aiokafka's
  batch API, which writes the journeys changelog (services/processors/changelog.py).

prometheus-fastapi-instrumentator 8.1, in instrumentator.py (services/common/metrics.py):
- `prometheus_fastapi_instrumentator.middleware.PrometheusInstrumentatorMiddleware._get_handler`:
  overridden to name each (method, path) once instead of matching every route per request.

uvicorn (with h11), in uvicorn_server.py (services/common/http_guard.py for ingest and the API;
deploy/embedded_clickhouse/__main__.py):
- `uvicorn.protocols.http.h11_impl.H11Protocol.conn`: h11's connection, whose state says whether a
  request's headers are complete; the header deadline (408) uvicorn's keep-alive timer lacks.
- `uvicorn.protocols.http.h11_impl.H11Protocol.cycle`: the request under way, if any.
- `uvicorn.protocols.http.h11_impl.RequestResponseCycle.response_complete`: a pipelined response
  under way keeps the connection from counting as idle.
- `uvicorn.protocols.http.h11_impl.H11Protocol.transport`: written to (the 408) and closed.
- `uvicorn.protocols.http.h11_impl.H11Protocol.loop`: arms the deadline's timer.
- `uvicorn.Server.handle_exit`: overridden (setting `should_exit` and `force_exit` as it does) so
  that the embedded ClickHouse exits normally after a signal instead of re-raising it.

Our own names on these subclasses (seek_epochs, _seeked, _handlers, _header_timer, _arm, ...)
are checked not to shadow a name of the library's class.

chDB (deploy/embedded_clickhouse): its public API only (connect, query, send_query, close and the
result's readers); clickhouse-connect, kafka-python and starlette: public API only.
"""
