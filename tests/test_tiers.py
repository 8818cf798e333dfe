"""The tier rule of `support.tiers`: one tier marker per test, and no unit test on a real
service."""

import pytest

from support.tiers import REAL_SERVICES, TIERS, require_integration_tier


def test_every_selected_test_has_exactly_one_tier(request):
    for item in request.session.items:
        tiers = [mark.name for mark in item.iter_markers() if mark.name in TIERS]
        assert len(tiers) == 1, (item.nodeid, tiers)
        if REAL_SERVICES & set(item.fixturenames):
            assert tiers != ["unit"], item.nodeid


def test_this_test_is_unit_and_so_may_not_reach_a_real_service(request):
    assert request.node.get_closest_marker("unit") is not None
    with pytest.raises(pytest.fail.Exception, match="uses the real Redis but is in the unit tier"):
        require_integration_tier(request, "the real Redis")


@pytest.mark.parametrize("backend", [pytest.param("redis_client", marks=pytest.mark.integration)])
def test_a_parameter_marked_integration_may(request, backend):
    assert request.node.get_closest_marker("unit") is None
    require_integration_tier(request, "the real Redis")
