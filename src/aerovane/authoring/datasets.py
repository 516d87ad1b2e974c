"""Datasets: what tasks produce (`outlets`) and what DAGs can be scheduled on.

A task that succeeds records an event for each Dataset in its outlets; a DAG whose `schedule`
is a Dataset, a list of them (all required), or an expression built with `&` and `|` gets a
run once its condition over the datasets updated since its last dataset-triggered run holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aerovane.authoring.exceptions import AerovaneDagError

MAX_URI = 3000


class BaseDataset:
    """A node of a dataset condition."""

    def __and__(self, other: BaseDataset) -> DatasetAll:
        return DatasetAll(self, other)

    def __or__(self, other: BaseDataset) -> DatasetAny:
        return DatasetAny(self, other)

    def iter_datasets(self) -> Iterator[Dataset]:
        raise NotImplementedError

    def evaluate(self, updated: set[str]) -> bool:
        raise NotImplementedError

    def as_expression(self) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Dataset(BaseDataset):
    uri: str
    extra: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        uri = self.uri
        if not isinstance(uri, str) or not uri or uri.isspace():
            raise AerovaneDagError("A dataset URI must be a non-empty string")
        if len(uri) > MAX_URI:
            raise AerovaneDagError(f"A dataset URI must be at most {MAX_URI} characters")
        if not uri.isascii():
            raise AerovaneDagError(f"Dataset URI {uri!r} must only consist of ASCII characters")
        if urlsplit(uri).scheme.lower() == "airflow":
            raise AerovaneDagError(f"Dataset scheme 'airflow' is reserved: {uri!r}")

    def iter_datasets(self) -> Iterator[Dataset]:
        yield self

    def evaluate(self, updated: set[str]) -> bool:
        return self.uri in updated

    def as_expression(self) -> Any:
        return self.uri


class _Compound(BaseDataset):
    key = ""

    def __init__(self, *objects: BaseDataset) -> None:
        if not objects or not all(isinstance(o, BaseDataset) for o in objects):
            raise AerovaneDagError(f"{type(self).__name__} takes datasets or dataset conditions")
        self.objects = objects

    def iter_datasets(self) -> Iterator[Dataset]:
        seen: set[str] = set()
        for obj in self.objects:
            for ds in obj.iter_datasets():
                if ds.uri not in seen:
                    seen.add(ds.uri)
                    yield ds

    def as_expression(self) -> Any:
        return {self.key: [o.as_expression() for o in self.objects]}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class DatasetAll(_Compound):
    key = "all"

    def evaluate(self, updated: set[str]) -> bool:
        return all(o.evaluate(updated) for o in self.objects)


class DatasetAny(_Compound):
    key = "any"

    def evaluate(self, updated: set[str]) -> bool:
        return any(o.evaluate(updated) for o in self.objects)


def condition_from_schedule(schedule: object) -> BaseDataset | None:
    """The dataset condition a `schedule` argument means, or None if it is not dataset-based."""
    if isinstance(schedule, BaseDataset):
        return schedule
    if isinstance(schedule, (list, tuple)) and schedule:
        if all(isinstance(s, BaseDataset) for s in schedule):
            return DatasetAll(*schedule)
        raise AerovaneDagError("A list schedule must contain only Dataset objects")
    return None


def condition_from_expression(expr: Any) -> BaseDataset:
    """Rebuild a condition from `as_expression()` output."""
    if isinstance(expr, str):
        return Dataset(expr)
    if isinstance(expr, Mapping) and len(expr) == 1:
        ((key, items),) = expr.items()
        cls = {"all": DatasetAll, "any": DatasetAny}.get(key)
        if cls is not None:
            return cls(*(condition_from_expression(i) for i in items))
    raise ValueError(f"not a dataset expression: {expr!r}")


def outlet_datasets(objects: Iterable[object]) -> list[Dataset]:
    return [o for o in objects if isinstance(o, Dataset)]
