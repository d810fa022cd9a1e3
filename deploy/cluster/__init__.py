"""The ClickHouse cluster variant: cluster DDL generated from the single-node migrations (ddl.py),
example server configuration (config/) and a compose file (docker-compose.yml). README "Scaling out"."""
