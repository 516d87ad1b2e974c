"""Deciding, from its upstream tasks' states, whether a task may run, must wait, or is settled.

Airflow 2's semantics (trigger_rule_dep with flag_upstream_failed): first a rule may settle a
task as skipped or upstream_failed; otherwise it is ready when the rule's condition holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from aerovane.states import FINISHED_TI_VALUES, TaskState

READY = "ready"
WAIT = "wait"
SKIPPED = TaskState.SKIPPED.value
UPSTREAM_FAILED = TaskState.UPSTREAM_FAILED.value


def evaluate(
    rule: str,
    upstream_states: Iterable[str | None],
    setup_states: Iterable[str | None] = (),
) -> str:
    """READY, WAIT, SKIPPED or UPSTREAM_FAILED for a task whose upstreams are in these states.

    `setup_states` are the states of those upstreams that are setup tasks (a subset of
    `upstream_states`); only ALL_DONE_SETUP_SUCCESS, a teardown's rule, looks at them.
    """
    states = list(upstream_states)
    total = len(states)
    if total == 0 or rule == "always":
        return READY
    if rule == "all_done_setup_success":
        return _all_done_setup_success(states, list(setup_states))
    counts = Counter(states)
    success = counts[TaskState.SUCCESS.value]
    skipped = counts[SKIPPED]
    failed = counts[TaskState.FAILED.value]
    up_failed = counts[UPSTREAM_FAILED]
    done = sum(n for s, n in counts.items() if s in FINISHED_TI_VALUES)
    all_done = done == total

    if rule == "all_success":
        if failed or up_failed:
            return UPSTREAM_FAILED
        if skipped:
            return SKIPPED
        return READY if success == total else WAIT
    if rule == "all_failed":
        if success or skipped:
            return SKIPPED
        return READY if failed + up_failed == total else WAIT
    if rule == "all_done":
        return READY if all_done else WAIT
    if rule == "all_skipped":
        if success or failed or up_failed:
            return SKIPPED
        return READY if skipped == total else WAIT
    if rule == "one_success":
        if success:
            return READY
        if all_done:
            return SKIPPED if skipped == total else UPSTREAM_FAILED
        return WAIT
    if rule == "one_failed":
        if failed or up_failed:
            return READY
        return SKIPPED if all_done else WAIT
    if rule == "one_done":
        if success or failed:
            return READY
        return SKIPPED if all_done else WAIT
    if rule == "none_failed":
        if failed or up_failed:
            return UPSTREAM_FAILED
        return READY if all_done else WAIT
    if rule == "none_failed_min_one_success":
        if failed or up_failed:
            return UPSTREAM_FAILED
        if all_done:
            return SKIPPED if skipped == total else READY
        return WAIT
    if rule == "none_skipped":
        if skipped:
            return SKIPPED
        return READY if all_done else WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")


def _all_done_setup_success(states: list[str | None], setups: list[str | None]) -> str:
    """Wait for every upstream; then run if a setup succeeded (or there is none), skip if all
    setups were skipped, else upstream_failed (Airflow's teardown rule)."""
    if not all(s in FINISHED_TI_VALUES for s in states):
        return WAIT
    if not setups:
        return READY
    if all(s == SKIPPED for s in setups):
        return SKIPPED
    if not any(s == TaskState.SUCCESS.value for s in setups):
        return UPSTREAM_FAILED
    return READY


def evaluate_setup_constraint(setup_states: Iterable[str | None]) -> str | None:
    """For a task that is not a teardown: its relevant *indirect* setups (setups further up
    whose teardowns come after it) must all succeed. UPSTREAM_FAILED or SKIPPED settles the
    task at once, WAIT holds it, None lets its own trigger rule decide."""
    states = list(setup_states)
    if not states:
        return None
    if any(s in (TaskState.FAILED.value, UPSTREAM_FAILED) for s in states):
        return UPSTREAM_FAILED
    if any(s == SKIPPED for s in states):
        return SKIPPED
    if any(s != TaskState.SUCCESS.value for s in states):
        return WAIT
    return None
