"""Triggers as users write them: serialization round trips, the built-in triggers' events, and
`BaseOperator.defer` / `resume_execution`."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.exceptions import TaskDeferralError, TaskDeferred
from aerovane.authoring.triggers import (
    BaseTrigger,
    DateTimeTrigger,
    FileTrigger,
    TimeDeltaTrigger,
    TriggerEvent,
)
from aerovane.authoring.triggers.base import import_trigger
from aerovane.services.triggers import decode, encode


def _first_event(trigger: BaseTrigger) -> TriggerEvent:
    async def first() -> TriggerEvent:
        async for event in trigger.run():
            return event
        raise AssertionError("no event")

    return asyncio.run(first())


def _rebuilt(trigger: BaseTrigger) -> BaseTrigger:
    classpath, kwargs = trigger.serialize()
    return import_trigger(classpath)(**decode(encode(kwargs)))


def test_datetime_trigger_fires_with_its_moment_after_a_round_trip() -> None:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    trigger = _rebuilt(DateTimeTrigger(moment))
    assert isinstance(trigger, DateTimeTrigger) and trigger.moment == moment
    assert _first_event(trigger) == TriggerEvent(moment.isoformat())


def test_datetime_trigger_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        DateTimeTrigger(dt.datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        DateTimeTrigger(12)  # type: ignore[arg-type]


def test_timedelta_trigger_serializes_as_a_moment() -> None:
    before = dt.datetime.now(dt.UTC)
    trigger = TimeDeltaTrigger(dt.timedelta(hours=1))
    classpath, kwargs = trigger.serialize()
    assert classpath == "aerovane.authoring.triggers.temporal.DateTimeTrigger"
    moment = dt.datetime.fromisoformat(kwargs["moment"])
    assert before + dt.timedelta(hours=1) <= moment


def test_file_trigger_fires_once_the_file_exists(tmp_path: Path) -> None:
    target = tmp_path / "data" / "*.csv"
    trigger = _rebuilt(FileTrigger(str(target), poke_interval=0.01))

    async def scenario() -> TriggerEvent:
        task = asyncio.ensure_future(_first(trigger))
        await asyncio.sleep(0.05)
        assert not task.done()  # nothing there yet
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "a.csv").write_text("x")
        return await task

    assert asyncio.run(scenario()) == TriggerEvent(True)


async def _first(trigger: BaseTrigger) -> TriggerEvent:
    async for event in trigger.run():
        return event
    raise AssertionError("no event")


def test_import_trigger_names_what_is_wrong() -> None:
    with pytest.raises(ImportError, match="no module"):
        import_trigger("NoModule")
    with pytest.raises(ImportError, match="not a BaseTrigger"):
        import_trigger("aerovane.authoring.baseoperator.BaseOperator")


def test_encode_tags_dates_and_refuses_the_rest() -> None:
    value = {"at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "d": dt.timedelta(seconds=5), "n": [1]}
    assert decode(encode(value)) == value
    with pytest.raises(TypeError, match="cannot store a object"):
        encode({"x": object()})


class _Waits(BaseOperator):
    def execute(self, context: Any) -> None:
        self.defer(
            trigger=TimeDeltaTrigger(dt.timedelta(seconds=1)),
            method_name="done",
            kwargs={"n": 1},
            timeout=dt.timedelta(minutes=1),
        )

    def done(self, context: Any, event: Any = None, n: int = 0) -> Any:
        return (event, n)


def test_defer_raises_task_deferred_and_resume_calls_the_method() -> None:
    task = _Waits(task_id="w")
    with pytest.raises(TaskDeferred) as info:
        task.execute({})
    assert info.value.method_name == "done" and info.value.kwargs == {"n": 1}
    assert info.value.timeout == dt.timedelta(minutes=1)
    assert task.resume_execution("done", {"event": "e", "n": 2}, {}) == ("e", 2)
    with pytest.raises(TaskDeferralError, match="Trigger timeout"):
        task.resume_execution("__fail__", {"error": "Trigger timeout"}, {})


def test_task_deferred_refuses_a_non_timedelta_timeout() -> None:
    with pytest.raises(ValueError, match="timedelta"):
        TaskDeferred(trigger=None, method_name="m", timeout=5)  # type: ignore[arg-type]


class _Custom(BaseTrigger):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}._Custom", {"n": self.n})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(self.n * 2)


def test_a_user_trigger_round_trips() -> None:
    assert _first_event(_rebuilt(_Custom(21))) == TriggerEvent(42)
    assert repr(_Custom(1)) == f"<{__name__}._Custom n=1>"
