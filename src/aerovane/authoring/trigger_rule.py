"""`TriggerRule`: when a task may run, given the states of its direct upstream tasks.

Authoring only names and validates the rules; the scheduler evaluates them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TriggerRule"]


class TriggerRule(StrEnum):
    """Airflow 2's trigger rules (those Aerovane's scheduler evaluates)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    #: A teardown's rule: run once every upstream is done, if at least one upstream setup
    #: succeeded (skipped when all its setups were skipped).
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"

    @classmethod
    def is_valid(cls, value: str) -> bool:
        return value in cls._value2member_map_

    @classmethod
    def all_triggers(cls) -> set[str]:
        return {member.value for member in cls}

    @classmethod
    def coerce(cls, value: str | TriggerRule) -> TriggerRule:
        """`value` as a member, or a ValueError listing the valid rules (Airflow's wording)."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(sorted(cls.all_triggers()))
            raise ValueError(
                f"The trigger_rule must be one of [{valid}]; received {value!r}."
            ) from None
