"""Stream processors: touchpoint events -> journey state -> ClickHouse."""
