"""The stream worker: scores install events from Redis, persists them to Postgres, keeps the
per-user cache, and runs the rq batch scoring jobs."""
