"""`WeightRule`: how a task's own `priority_weight` combines with its relatives' weights."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["WeightRule"]


class WeightRule(StrEnum):
    """downstream: own + all downstream; upstream: own + all upstream; absolute: own only."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"

    @classmethod
    def coerce(cls, value: str | WeightRule) -> WeightRule:
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(
                f"The weight_rule must be one of [{valid}]; received {value!r}."
            ) from None
