"""Start a processor worker: topics and ClickHouse schema first, then the Faust worker."""
from __future__ import annotations

from services.common.gc_tuning import tune_for_service


def tune_gc(app) -> None:
    """Faust, aiokafka and our modules are many long-lived objects, which every full collection
    scanned again: under load the garbage collector took a large share of the processors' CPU
    (bench/notes.md). Once the app has started they are frozen (never scanned again), and young
    objects are collected less often: a batch's objects die by reference counting, only cycles wait
    for a collection."""

    @app.task
    async def freeze_startup_objects() -> None:
        tune_for_service(5000, (20, 20))


def main() -> None:
    from services.common.logging import setup_logging
    from services.common.topics import ensure_topics
    from services.processors import (  # noqa: F401 (importing registers the agents and pages)
        alerts,
        feedback_agent,
        identity_agent,
        journey_agent,
        watchdog,
        web,
    )
    from services.processors.app import app, settings

    setup_logging("processors", settings)
    ensure_topics(settings)
    journey_agent.sink()  # migrate and connect before consuming
    feedback_agent.sink()
    identity_agent.sink()
    alerts.alerts()
    watchdog.install(app, settings.recovery_stall_s)
    app.main_argv = None
    tune_gc(app)
    from faust.worker import Worker

    # override_logging=False: keep the handler set up above (Faust's own would be coloured text);
    # no spinner: it writes terminal escapes to stdout, which is the log.
    worker = Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
