"""Per-thread cache connections, opened when a worker starts its threads; the frozen heap."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import fakeredis

from api import server
from api.services import PerThreadRedis


def in_threads(count: int, function) -> list:
    results = [None] * count

    def run(index: int) -> None:
        results[index] = function()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_each_thread_gets_its_own_client_and_keeps_it():
    made = []

    def factory():
        made.append(fakeredis.FakeRedis())
        return made[-1]

    clients = PerThreadRedis(factory)
    first = in_threads(3, lambda: (clients.client(), clients.client()))
    assert all(a is b for a, b in first)  # kept within a thread
    assert len({id(a) for a, _ in first}) == 3 and len(made) == 3  # one per thread


def test_commands_go_to_the_calling_threads_client(redis_server):
    clients = PerThreadRedis(
        lambda: fakeredis.FakeRedis(server=redis_server, single_connection_client=True)
    )
    clients.set("k", b"v")
    assert in_threads(2, lambda: clients.get("k")) == [b"v", b"v"]


def test_worker_start_opens_thread_connections_and_freezes_what_is_loaded():
    opened = []

    class Services:
        def connect_thread(self):
            opened.append(threading.get_ident())

    with ThreadPoolExecutor(max_workers=3) as pool:
        worker = SimpleNamespace(
            tpool=pool,
            cfg=SimpleNamespace(threads=3),
            wsgi=SimpleNamespace(extensions={"d7": Services()}),
        )
        try:
            server._post_worker_init(worker)
            frozen = gc.get_freeze_count()
        finally:
            gc.unfreeze()  # this test process is not a server worker
        assert len(pool._threads) == 3  # started before the first request
    assert len(set(opened)) == 3
    assert frozen > 1000  # what was loaded is out of the collector's reach
