"""The HTTP API: real-time D7 revenue predictions, per-user lookups, event intake, batch jobs."""
