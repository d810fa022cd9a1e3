"""Start a processor worker: topics and ClickHouse schema first, then the Faust worker."""
from __future__ import annotations

import logging


def main() -> None:
    from deploy.topics import ensure_topics
    from services.processors import agent, alerts, feedback, watchdog  # importing registers the agents
    from services.processors.app import app, settings

    logging.getLogger("kafka").setLevel(logging.WARNING)
    ensure_topics(settings)
    agent.sink()  # migrate and connect before consuming
    feedback.sink()
    alerts.alerts()
    watchdog.install(app, settings.recovery_stall_s)
    app.main_argv = None
    from faust.worker import Worker

    Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
