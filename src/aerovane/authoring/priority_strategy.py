"""Priority-weight strategies: Airflow 2.10's `PriorityWeightStrategy` for custom weights.

A task's `weight_rule` is one of the built-in rules (`WeightRule`: downstream, upstream,
absolute, computed over the DAG when it is serialized) or a strategy: an instance of a
`PriorityWeightStrategy` subclass that a plugin registered (`priority_weight_strategies`), or
that class's import path. A strategy's `get_weight(ti)` gives the weight of a task instance
when the run's task instances are created; the class is rebuilt there from its path and
`serialize()` data, so only plugin-registered classes are accepted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from aerovane.authoring.exceptions import AerovaneDagError
from aerovane.authoring.weight_rule import WeightRule

__all__ = ["PriorityWeightStrategy", "coerce_weight_rule", "strategy_from_dict", "strategy_to_dict"]


class PriorityWeightStrategy(ABC):
    """Computes the priority weight of a task instance (`ti.task`, `ti.try_number`, ...)."""

    @abstractmethod
    def get_weight(self, ti: Any) -> int:
        """The weight of `ti`."""

    def serialize(self) -> dict[str, Any]:
        return {}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> PriorityWeightStrategy:
        return cls(**data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PriorityWeightStrategy):
            return NotImplemented
        return type(self) is type(other) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, repr(sorted(self.serialize().items()))))

    def __str__(self) -> str:
        return _class_path(type(self))


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _registered(path: str) -> type[PriorityWeightStrategy]:
    from aerovane.authoring.plugins import registered_priority_weight_strategy

    return registered_priority_weight_strategy(path)


def coerce_weight_rule(value: object) -> WeightRule | PriorityWeightStrategy:
    """A built-in rule, a strategy instance, or a registered strategy class (path or class)."""
    if isinstance(value, PriorityWeightStrategy):
        _registered(_class_path(type(value)))
        return value
    if isinstance(value, type) and issubclass(value, PriorityWeightStrategy):
        return _registered(_class_path(value))()
    if isinstance(value, str) and value not in {rule.value for rule in WeightRule}:
        try:
            return _registered(value)()
        except ValueError:
            pass
    try:
        return WeightRule.coerce(value)  # type: ignore[arg-type]
    except ValueError as err:
        raise AerovaneDagError(
            f"{err} A custom priority weight strategy must be registered by a plugin "
            "(priority_weight_strategies)."
        ) from None


def strategy_to_dict(strategy: PriorityWeightStrategy) -> dict[str, Any]:
    return {"class": _class_path(type(strategy)), "data": strategy.serialize()}


def strategy_from_dict(data: dict[str, Any]) -> PriorityWeightStrategy:
    return _registered(data["class"]).deserialize(dict(data.get("data") or {}))
