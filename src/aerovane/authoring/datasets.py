"""Datasets: what tasks produce (`outlets`) and what DAGs can be scheduled on.

A task that succeeds records an event for each Dataset in its outlets; a DAG whose `schedule`
is a Dataset, a list of them (all required), or an expression built with `&` and `|` gets a
run once its condition over the datasets updated since its last dataset-triggered run holds.

Airflow 2.10's runtime side lives here too: `outlet_events[dataset].extra` sets the extra of the
event a task records, `outlet_events[DatasetAlias(...)].add(Dataset(...))` records an event on a
dataset chosen at run time (a `DatasetAlias` outlet), a task function may `yield Metadata(...)`
for either, and `inlet_events[dataset_or_alias]` lists past events, read through the task
runtime's client (never the database from here). A DAG scheduled on an alias is triggered by events
recorded through it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
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


#: How `evaluate` sees "a dataset of this alias was updated": a key no dataset URI can be.
ALIAS_KEY_PREFIX = "\x00alias:"


@dataclass(frozen=True)
class DatasetAlias(BaseDataset):
    """A name under which a task records events on datasets it picks at run time."""

    name: str

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name or name.isspace():
            raise AerovaneDagError("A dataset alias name must be a non-empty string")
        if len(name) > MAX_URI:
            raise AerovaneDagError(f"A dataset alias name must be at most {MAX_URI} characters")

    def iter_datasets(self) -> Iterator[Dataset]:
        return iter(())

    def iter_aliases(self) -> Iterator[DatasetAlias]:
        yield self

    def evaluate(self, updated: set[str]) -> bool:
        return ALIAS_KEY_PREFIX + self.name in updated

    def as_expression(self) -> Any:
        return {"alias": self.name}


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

    def iter_aliases(self) -> Iterator[DatasetAlias]:
        for obj in self.objects:
            yield from iter_aliases(obj)

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
        if key == "alias":
            return DatasetAlias(items)
        cls = {"all": DatasetAll, "any": DatasetAny}.get(key)
        if cls is not None:
            return cls(*(condition_from_expression(i) for i in items))
    raise ValueError(f"not a dataset expression: {expr!r}")


def iter_aliases(condition: BaseDataset) -> Iterator[DatasetAlias]:
    """The aliases a condition mentions."""
    method = getattr(condition, "iter_aliases", None)
    return method() if method is not None else iter(())


def outlet_datasets(objects: Iterable[object]) -> list[Dataset]:
    return [o for o in objects if isinstance(o, Dataset)]


def outlet_aliases(objects: Iterable[object]) -> list[DatasetAlias]:
    return [o for o in objects if isinstance(o, DatasetAlias)]


# -- the task context's `outlet_events` and `inlet_events` -------------------------------------

log = logging.getLogger("aerovane.task")


def _event_key(key: object) -> str:
    """The accessor key of a Dataset (its URI), an alias (its name) or a string."""
    if isinstance(key, Dataset):
        return key.uri
    if isinstance(key, DatasetAlias):
        return key.name
    if isinstance(key, str):
        return key
    raise TypeError(f"outlet_events takes a Dataset or a DatasetAlias, not {key!r}")


@dataclass
class DatasetAliasEvent:
    """An event a task adds through an alias: on `dest_dataset_uri`, with `extra`."""

    source_alias_name: str
    dest_dataset_uri: str
    extra: dict[str, Any]


@dataclass
class OutletEventAccessor:
    """`outlet_events[key]`: the extra of a dataset's event, or the events added via an alias."""

    raw_key: str | Dataset | DatasetAlias
    extra: dict[str, Any] = field(default_factory=dict)
    dataset_alias_events: list[DatasetAliasEvent] = field(default_factory=list)

    def add(self, dataset: Dataset | str, extra: dict[str, Any] | None = None) -> None:
        """Record an event on `dataset` through this alias (ignored on a plain dataset key)."""
        uri = dataset.uri if isinstance(dataset, Dataset) else dataset
        if not isinstance(uri, str):
            return
        if isinstance(self.raw_key, DatasetAlias):
            alias = self.raw_key.name
        elif isinstance(self.raw_key, str):
            alias = self.raw_key
        else:
            return
        Dataset(uri)  # validate the URI now, in the task, not when the outcome is written
        self.dataset_alias_events.append(DatasetAliasEvent(alias, uri, dict(extra or {})))


class OutletEventAccessors(Mapping[str, OutletEventAccessor]):
    """`context["outlet_events"]`: an accessor per dataset or alias, created on first use."""

    def __init__(self) -> None:
        self._dict: dict[str, OutletEventAccessor] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, key: str | Dataset | DatasetAlias) -> OutletEventAccessor:  # type: ignore[override]
        name = _event_key(key)
        if name not in self._dict:
            self._dict[name] = OutletEventAccessor(raw_key=key)
        return self._dict[name]

    def __repr__(self) -> str:
        return f"OutletEventAccessors({self._dict!r})"


@dataclass(frozen=True)
class TaskDatasetEvent:
    """An event a succeeded task records: on `uri`, with `extra`, through `aliases` (if any)."""

    uri: str
    extra: dict[str, Any]
    aliases: tuple[str, ...] = ()


def task_events(
    outlets: Iterable[object], accessors: Mapping[str, Any] | None
) -> list[TaskDatasetEvent]:
    """The events a task that succeeded records (Airflow 2.10's rules): one per outlet dataset
    with the extra set on its accessor, and one per (dataset, extra) added through the task's
    outlet aliases, naming every alias that added it."""
    accessors = accessors if isinstance(accessors, OutletEventAccessors) else OutletEventAccessors()
    events: list[TaskDatasetEvent] = []
    for dataset in outlet_datasets(outlets):
        events.append(TaskDatasetEvent(dataset.uri, dict(accessors[dataset].extra)))
    through: dict[tuple[str, str], tuple[dict[str, Any], list[str]]] = {}
    for alias in outlet_aliases(outlets):
        for added in accessors[alias].dataset_alias_events:
            key = (added.dest_dataset_uri, repr(sorted(added.extra.items())))
            extra, names = through.setdefault(key, (added.extra, []))
            if added.source_alias_name not in names:
                names.append(added.source_alias_name)
    for (uri, _), (extra, names) in through.items():
        events.append(TaskDatasetEvent(uri, dict(extra), tuple(names)))
    return events


@dataclass
class Metadata:
    """Yielded by a task function: the extra of the event on `target` (and, with `alias`, an
    event recorded through that alias)."""

    uri: str
    extra: dict[str, Any]
    alias_name: str | None = None

    def __init__(
        self,
        target: str | Dataset,
        extra: dict[str, Any],
        alias: DatasetAlias | str | None = None,
    ) -> None:
        self.uri = _event_key(target)
        self.extra = extra
        self.alias_name = alias.name if isinstance(alias, DatasetAlias) else alias


def run_callable(func: Callable[..., Any], outlet_events: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Call `func`; a generator function is exhausted here, each `Metadata` it yields going into
    `outlet_events`, and its `return` value is the result (Airflow's ExecutionCallableRunner)."""
    if not inspect.isgeneratorfunction(func):
        return func(*args, **kwargs)
    events = outlet_events if isinstance(outlet_events, OutletEventAccessors) else None
    result: Any = None

    def drive() -> Iterator[Any]:
        nonlocal result
        result = yield from func(*args, **kwargs)

    for item in drive():
        if isinstance(item, Metadata) and events is not None:
            events[item.uri].extra.update(item.extra)
            if item.alias_name:
                events[item.alias_name].add(item.uri, extra=item.extra)
            continue
        log.warning("Ignoring unknown data of %r received from task", type(item))
    return result


@dataclass(frozen=True)
class DatasetEventInfo:
    """A past dataset event as task code sees it in `inlet_events` (Airflow's DatasetEvent)."""

    id: int
    dataset_uri: str
    extra: dict[str, Any]
    source_dag_id: str | None
    source_task_id: str | None
    source_run_id: str | None
    source_map_index: int | None
    timestamp: Any
    source_aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return self.dataset_uri


#: Reads the events of a dataset (uri=...) or an alias (alias=...), oldest first.
EventReader = Callable[..., Sequence[DatasetEventInfo]]


class _LazyEvents(Sequence[DatasetEventInfo]):
    def __init__(self, read: Callable[[], Sequence[DatasetEventInfo]]) -> None:
        self._read = read
        self._events: Sequence[DatasetEventInfo] | None = None

    def _all(self) -> Sequence[DatasetEventInfo]:
        if self._events is None:
            self._events = list(self._read())
        return self._events

    @overload
    def __getitem__(self, index: int) -> DatasetEventInfo: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[DatasetEventInfo]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"<dataset events: {len(self)}>"


class InletEventsAccessors(Mapping[Any, Sequence[DatasetEventInfo]]):
    """`context["inlet_events"]`: past events of each inlet dataset or alias, oldest first."""

    def __init__(self, inlets: Iterable[object], reader: EventReader | None) -> None:
        self._inlets = [i for i in inlets if isinstance(i, (Dataset, DatasetAlias))]
        self._reader = reader

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inlets)

    def __len__(self) -> int:
        return len(self._inlets)

    def __getitem__(self, key: Any) -> Sequence[DatasetEventInfo]:
        obj = self._inlets[key] if isinstance(key, int) else key
        if isinstance(obj, str):
            obj = Dataset(obj)
        if obj not in self._inlets:
            raise KeyError(key)
        reader = self._reader
        if reader is None:
            raise RuntimeError("inlet_events are only readable in a running task")
        if isinstance(obj, DatasetAlias):
            return _LazyEvents(lambda: reader(alias=obj.name))
        return _LazyEvents(lambda: reader(uri=obj.uri))


class TriggeringDatasetEvents(Mapping[str, list[DatasetEventInfo]]):
    """`context["triggering_dataset_events"]`: the events that triggered this run, by dataset
    URI (empty for a run not triggered by datasets), read on first use."""

    def __init__(self, reader: Callable[[], Sequence[DatasetEventInfo]] | None) -> None:
        self._reader = reader
        self._events: dict[str, list[DatasetEventInfo]] | None = None

    def _all(self) -> dict[str, list[DatasetEventInfo]]:
        if self._events is None:
            if self._reader is None:
                raise RuntimeError("triggering_dataset_events are only readable in a running task")
            grouped: dict[str, list[DatasetEventInfo]] = {}
            for event in self._reader():
                grouped.setdefault(event.dataset_uri, []).append(event)
            self._events = grouped
        return self._events

    def __getitem__(self, uri: str) -> list[DatasetEventInfo]:
        return self._all()[uri]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"TriggeringDatasetEvents({self._all()!r})"
