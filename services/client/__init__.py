"""A client of a running stack: posts events to ingest over HTTP (:mod:`.loader`) from JSON Lines or
CSV files (:mod:`.sources`) or any iterable of events. A library, not a server: `journeyline load` and
`journeyline demo` (services/cli) and `make up` (deploy/up.py) use it; it imports nothing of ingest."""
