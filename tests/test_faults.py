"""Fault specs are validated with messages that say what is wrong; budgets and patterns apply."""

from __future__ import annotations

import pytest

from cdpkit.mockserver.faults import Faults, FaultSpecError, parse_fault


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "JSON object"),
        ({"path": "/x", "colour": 1}, "unknown fault fields"),
        ({"path": "/x", "status": 900}, "HTTP status"),
        ({"path": "/x", "latency_ms": [5, 1]}, "latency_ms"),
        ({"path": "/x", "latency_ms": -1}, "latency_ms"),
        ({"path": "/x", "status": 500, "count": 0}, "count"),
        ({"path": "/x", "status": 500, "percent": 0}, "percent"),
        ({"path": "/x"}, "at least one of"),
        ({"path": "/x", "status": 500, "method": 5}, "method"),
    ],
)
def test_bad_specs_are_named(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec)


def test_count_budget_and_glob():
    faults = Faults(seed=1)
    faults.add(parse_fault({"path": "/v1/*", "status": 503, "count": 2}))
    assert faults.take("GET", "/other") is None
    assert faults.take("POST", "/v1/track").status == 503
    assert faults.take("POST", "/v1/track").status == 503
    assert faults.take("POST", "/v1/track") is None
    assert faults.list() == []


def test_method_filter_and_percent_are_honoured():
    faults = Faults(seed=7)
    faults.add(parse_fault({"path": "*", "method": "POST", "status": 500, "percent": 50}))
    assert faults.take("GET", "/a") is None
    hits = sum(faults.take("POST", "/a") is not None for _ in range(400))
    assert 140 < hits < 260
