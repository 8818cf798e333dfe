"""The embedded Redis of `make run`: fakeredis's TCP server in a thread of the launcher.

It speaks the Redis protocol on 127.0.0.1, with streams, consumer groups, pipelines, blocking
reads and (with `lupa`, the `embedded` extra) the Lua scripts rq uses, so the real API, stream
worker and rq worker run against it unchanged. It keeps everything in memory: its data is gone
when `make run` stops (predictions persist in the SQLite file).
"""

from __future__ import annotations

import threading


class EmbeddedRedis:
    """A Redis-compatible server on 127.0.0.1:`port` (0: any free port) until `stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from fakeredis import TcpFakeServer

        self._server = TcpFakeServer((host, port), server_type="redis")
        self._server.daemon_threads = True  # a client that never hangs up must not block exit
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="embedded-redis", daemon=True
        )

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
