"""The Redis every stream and cache test runs on: fakeredis (unit), the real server and the
local Redis Cluster (integration)."""

import pytest


@pytest.fixture(
    params=[
        "fake_redis",
        pytest.param("redis_client", marks=pytest.mark.integration),
        pytest.param("redis_cluster_client", marks=pytest.mark.integration),
    ]
)
def client(request):
    return request.getfixturevalue(request.param)
