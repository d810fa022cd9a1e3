"""The `journeyline` command: one entry point, a module per command group."""
