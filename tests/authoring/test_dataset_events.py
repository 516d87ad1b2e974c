"""Airflow 2.10's dataset runtime API: DatasetAlias, outlet_events, Metadata, inlet_events."""

from __future__ import annotations

from typing import Any

import pytest

from aerovane.authoring import DAG, Dataset, DatasetAlias, Metadata
from aerovane.authoring.datasets import (
    DatasetEventInfo,
    InletEventsAccessors,
    OutletEventAccessors,
    TaskDatasetEvent,
    condition_from_expression,
    condition_from_schedule,
    run_callable,
    task_events,
)
from aerovane.authoring.exceptions import AerovaneDagError
from aerovane.authoring.operators import PythonOperator
from aerovane.authoring.serialization import SerializedDAG, serialize_dag
from tests.authoring.helpers import make_context


def test_alias_conditions_round_trip_and_evaluate() -> None:
    alias = DatasetAlias("parts")
    condition = condition_from_schedule([alias, Dataset("a")])
    assert condition is not None
    assert condition.as_expression() == {"all": [{"alias": "parts"}, "a"]}
    assert condition_from_expression(condition.as_expression()).as_expression() == {
        "all": [{"alias": "parts"}, "a"]
    }
    assert not condition.evaluate({"a"})
    assert condition.evaluate({"a", "\x00alias:parts"})
    with pytest.raises(AerovaneDagError):
        DatasetAlias("")


def test_outlet_events_become_task_events() -> None:
    raw, alias = Dataset("s3://raw"), DatasetAlias("parts")
    events = OutletEventAccessors()
    events[raw].extra = {"rows": 1}
    events[raw].extra["more"] = True
    events[alias].add(Dataset("s3://p1"), extra={"p": 1})
    events[DatasetAlias("other")].add(Dataset("s3://p1"), extra={"p": 1})
    events[raw].add(Dataset("s3://ignored"))  # add() only means something on an alias
    outlets = [raw, alias, DatasetAlias("other"), "lineage object"]
    assert task_events(outlets, events) == [
        TaskDatasetEvent("s3://raw", {"rows": 1, "more": True}),
        TaskDatasetEvent("s3://p1", {"p": 1}, ("parts", "other")),
    ]
    # A task that touched nothing still records one plain event per outlet dataset.
    assert task_events([raw, alias], None) == [TaskDatasetEvent("s3://raw", {})]
    with pytest.raises(AerovaneDagError):
        events[alias].add(Dataset("s3://" + "x" * 3000))


def test_yielded_metadata_feeds_outlet_events_and_the_return_value_is_kept() -> None:
    alias = DatasetAlias("parts")

    def produce() -> Any:
        yield Metadata(Dataset("s3://raw"), {"rows": 2})
        yield Metadata(Dataset("s3://p2"), {"p": 2}, alias=alias)
        yield "not metadata"
        return "result"

    events = OutletEventAccessors()
    assert run_callable(produce, events) == "result"
    assert task_events([Dataset("s3://raw"), alias], events) == [
        TaskDatasetEvent("s3://raw", {"rows": 2}),
        TaskDatasetEvent("s3://p2", {"p": 2}, ("parts",)),
    ]
    assert run_callable(lambda x: x + 1, events, 1) == 2


def test_python_operator_gets_outlet_events_from_the_context() -> None:
    raw = Dataset("s3://raw")

    def produce(outlet_events: Any) -> str:
        outlet_events[raw].extra = {"from": "task"}
        yield Metadata(raw, {"also": 1})
        return "ok"

    with DAG("outlets_py", schedule=None):
        op = PythonOperator(task_id="p", python_callable=produce, outlets=[raw])
    context = make_context(op.dag, op, None, None)
    assert op.execute(context) == "ok"
    assert task_events(op.outlets, context["outlet_events"]) == [
        TaskDatasetEvent("s3://raw", {"from": "task", "also": 1})
    ]


def _event(n: int, uri: str) -> DatasetEventInfo:
    return DatasetEventInfo(n, uri, {"n": n}, "d", "t", "r", -1, None, ())


def test_inlet_events_read_through_the_task_runtime() -> None:
    raw, alias = Dataset("s3://raw"), DatasetAlias("parts")
    asked: list[dict[str, Any]] = []

    def reader(**query: Any) -> list[DatasetEventInfo]:
        asked.append(query)
        return [_event(1, "s3://raw"), _event(2, "s3://raw")]

    inlets = InletEventsAccessors([raw, alias, "lineage"], reader)
    assert list(inlets) == [raw, alias] and len(inlets) == 2
    events = inlets[raw]
    assert asked == []  # lazy: nothing read until used
    assert events[-1].extra == {"n": 2} and len(events) == 2 and events[0].uri == "s3://raw"
    assert [e.id for e in inlets[1]] == [1, 2]
    assert asked == [{"uri": "s3://raw"}, {"alias": "parts"}]
    with pytest.raises(KeyError):
        inlets[Dataset("s3://not-an-inlet")]
    with pytest.raises(RuntimeError, match="running task"):
        len(InletEventsAccessors([raw], None)[raw])


def test_outlet_aliases_are_serialized() -> None:
    with DAG("alias_dag", schedule=[DatasetAlias("in")]) as dag:
        PythonOperator(
            task_id="p", python_callable=lambda: None, outlets=[Dataset("x"), DatasetAlias("out")]
        )
    restored = SerializedDAG(serialize_dag(dag))
    task = restored.task_dict["p"]
    assert (task.outlets, task.outlet_aliases) == (("x",), ("out",))
    # A list schedule is DatasetAll, as in Airflow, even with one member.
    assert restored.timetable.condition.as_expression() == {"all": [{"alias": "in"}]}


def test_triggering_dataset_events_group_by_uri_lazily() -> None:
    from aerovane.authoring.datasets import TriggeringDatasetEvents

    calls: list[int] = []

    def reader() -> list[DatasetEventInfo]:
        calls.append(1)
        return [_event(1, "a"), _event(2, "b"), _event(3, "a")]

    events = TriggeringDatasetEvents(reader)
    assert calls == []
    assert [e.id for e in events["a"]] == [1, 3] and list(events) == ["a", "b"]
    assert len(events) == 2 and calls == [1]
    with pytest.raises(RuntimeError, match="running task"):
        len(TriggeringDatasetEvents(None))
