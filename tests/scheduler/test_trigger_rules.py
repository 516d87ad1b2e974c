from __future__ import annotations

import pytest

from aerovane.scheduler.trigger_rules import READY, SKIPPED, UPSTREAM_FAILED, WAIT, evaluate

S, F, K, U, R = "success", "failed", "skipped", "upstream_failed", "running"


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ("all_success", [S, S], READY),
        ("all_success", [S, R], WAIT),
        ("all_success", [S, F], UPSTREAM_FAILED),
        ("all_success", [S, U], UPSTREAM_FAILED),
        ("all_success", [S, K], SKIPPED),
        ("all_failed", [F, U], READY),
        ("all_failed", [F, S], SKIPPED),
        ("all_failed", [F, R], WAIT),
        ("all_done", [S, F, K], READY),
        ("all_done", [S, None], WAIT),
        ("one_success", [S, R], READY),
        ("one_success", [F, F], UPSTREAM_FAILED),
        ("one_success", [K, K], SKIPPED),
        ("one_success", [F, R], WAIT),
        ("one_failed", [F, R], READY),
        ("one_failed", [S, S], SKIPPED),
        ("none_failed", [S, K], READY),
        ("none_failed", [S, F], UPSTREAM_FAILED),
        ("none_failed_min_one_success", [S, K], READY),
        ("none_failed_min_one_success", [K, K], SKIPPED),
        ("none_failed_min_one_success", [U, S], UPSTREAM_FAILED),
        ("none_skipped", [S, F], READY),
        ("none_skipped", [S, K], SKIPPED),
        ("always", [None, R], READY),
        ("all_success", [], READY),
    ],
)
def test_rules(rule: str, states: list[str | None], expected: str) -> None:
    assert evaluate(rule, states) == expected


def test_unknown_rule() -> None:
    with pytest.raises(ValueError, match="unknown trigger rule"):
        evaluate("sometimes", [S])


@pytest.mark.parametrize(
    ("states", "setups", "expected"),
    [
        ([S, F], [S], READY),  # the work failed, the setup succeeded: tear down
        ([S, R], [S], WAIT),
        ([F, U], [F], UPSTREAM_FAILED),  # no setup succeeded: nothing to tear down
        ([K, K], [K], SKIPPED),
        ([S, F, K], [S, F], READY),  # at least one setup succeeded
        ([F, S], [], READY),  # no setup upstream: plain all_done
        ([F, None], [], WAIT),
    ],
)
def test_all_done_setup_success(
    states: list[str | None], setups: list[str | None], expected: str
) -> None:
    assert evaluate("all_done_setup_success", states, setups) == expected


@pytest.mark.parametrize(
    ("setups", "expected"),
    [
        ([], None),
        ([S, S], None),
        ([S, R], WAIT),
        ([S, F], UPSTREAM_FAILED),
        ([U], UPSTREAM_FAILED),
        ([S, K], SKIPPED),
    ],
)
def test_setup_constraint(setups: list[str | None], expected: str | None) -> None:
    from aerovane.scheduler.trigger_rules import evaluate_setup_constraint

    assert evaluate_setup_constraint(setups) == expected
