"""The `NOTSET` sentinel: "no value was given", distinct from an explicit `None`.

Params, Variable defaults and DAG schedule arguments all need to tell "the author passed None"
apart from "the author passed nothing", exactly as Airflow's `ArgNotSet` does.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["NOTSET", "ArgNotSet", "is_arg_set"]


class ArgNotSet:
    """Type of the `NOTSET` singleton; falsy, and preserved by copy/deepcopy/pickle."""

    _instance: ArgNotSet | None = None

    def __new__(cls) -> ArgNotSet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> ArgNotSet:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ArgNotSet:
        return self

    def __reduce__(self) -> tuple[type[ArgNotSet], tuple[()]]:
        return (ArgNotSet, ())


NOTSET: Final[ArgNotSet] = ArgNotSet()


def is_arg_set(value: object) -> bool:
    """True unless `value` is the `NOTSET` sentinel."""
    return value is not NOTSET
