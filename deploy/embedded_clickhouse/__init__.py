"""Development ClickHouse server: one embedded chDB data directory served over ClickHouse's HTTP
interface, so several processes (services using clickhouse-connect, BI tools, curl) can share it.

Run it with `python -m deploy.embedded_clickhouse --path DIR`; see `__main__` for the options and
`server` for what of the HTTP interface is implemented.
"""
