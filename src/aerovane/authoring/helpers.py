"""Small helpers DAG files import from `airflow.utils.helpers` (dependency helpers aside,
which live in `dependencies`): container tests, chunking, dict merging, key validation."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from aerovane.authoring.exceptions import AerovaneException

__all__ = [
    "as_flattened_list",
    "as_tuple",
    "at_most_one",
    "chunks",
    "convert_camel_to_snake",
    "exactly_one",
    "is_container",
    "merge_dicts",
    "partition",
    "validate_key",
]

T = TypeVar("T")
_KEY = re.compile(r"^[\w.-]+$")


def validate_key(k: str, max_length: int = 250) -> None:
    """Raise unless `k` is a valid task/DAG id: alphanumerics, dashes, dots, underscores."""
    if not isinstance(k, str):
        raise TypeError(f"The key has to be a string and is {type(k)}:{k}")
    if len(k) > max_length:
        raise AerovaneException(f"The key has to be less than {max_length} characters")
    if not _KEY.match(k):
        raise AerovaneException(
            f"The key {k!r} has to be made of alphanumeric characters, dashes, dots and "
            "underscores exclusively"
        )


def is_container(obj: Any) -> bool:
    """Iterable but not a string."""
    return hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes))


def as_tuple(obj: Any) -> tuple[Any, ...]:
    return tuple(obj) if is_container(obj) else (obj,)


def chunks(items: list[T], chunk_size: int) -> Generator[list[T], None, None]:
    if chunk_size <= 0:
        raise ValueError("Chunk size must be a positive integer")
    for i in range(0, len(items), chunk_size):
        yield items[i : i + chunk_size]


def as_flattened_list(iterable: Iterable[Iterable[T]]) -> list[T]:
    return [item for sub in iterable for item in sub]


def convert_camel_to_snake(camel_str: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel_str).lower()


def merge_dicts(dict1: dict[Any, Any], dict2: dict[Any, Any]) -> dict[Any, Any]:
    """`dict1` updated with `dict2`, merging nested dicts recursively."""
    merged = dict1.copy()
    for key, value in dict2.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def partition(pred: Callable[[T], bool], iterable: Iterable[T]) -> tuple[list[T], list[T]]:
    """(items failing `pred`, items passing it)."""
    items = list(iterable)
    return [i for i in items if not pred(i)], [i for i in items if pred(i)]


def exactly_one(*args: Any) -> bool:
    """Exactly one argument is truthy."""
    if len(args) == 1 and is_container(args[0]):
        raise ValueError("Not supported for iterable args. Use `*` to unpack your iterable.")
    return sum(map(bool, args)) == 1


def at_most_one(*args: Any) -> bool:
    """At most one argument is truthy."""
    return sum(map(bool, args)) <= 1
