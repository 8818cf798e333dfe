"""The test tiers, applied by the collection hook of tests/conftest.py.

Every test gets exactly one tier marker: `slow` when marked so by hand, `integration` when marked
so or when it uses the real Redis, Postgres or a local Redis Cluster (found from its fixtures, so
a new test cannot be forgotten), `unit` otherwise. `make test-fast` runs the unit tier, `make test` all three.
"""

from __future__ import annotations

import pytest

TIERS = ("unit", "integration", "slow")
"""The test tiers, fastest first; each test carries exactly one of these markers."""
REAL_SERVICES = frozenset({"redis_url", "postgres_admin", "redis_cluster"})
"""The fixtures every use of the real Redis, Postgres or a local Redis Cluster goes through."""


def tier_of(item: pytest.Item) -> str:
    """`slow` if marked so, else `integration` if marked so or using a real service, else `unit`."""
    marked = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    if len(marked) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked {sorted(marked)}: one tier per test")
    real = REAL_SERVICES & set(item.fixturenames)
    if marked == {"unit"} and real:
        raise pytest.UsageError(f"{item.nodeid} is marked unit but uses {sorted(real)}")
    if marked:
        return marked.pop()
    return "integration" if real else "unit"


def mark_tiers(items: list[pytest.Item]) -> None:
    """Give each test the marker of its tier (`-m unit` and the like select by it)."""
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(tier)


def require_integration_tier(request: pytest.FixtureRequest, what: str) -> None:
    """Fail a unit test that reaches a real service through `request.getfixturevalue`, which
    the collection hook cannot see: mark it (or its parameter) `integration`."""
    if request.node.get_closest_marker("unit") is not None:
        pytest.fail(f"{request.node.nodeid} uses {what} but is in the unit tier", pytrace=False)
