"""One module per outside system (Redis cache, Redis streams, Postgres, rq) plus the settings.

Every adapter takes its client as an argument; nothing here connects at import time.
"""
