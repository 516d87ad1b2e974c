"""`BaseSensorOperator`: poke a condition until it holds, as Airflow 2.10's sensors do.

In `poke` mode the attempt keeps its worker slot and sleeps between pokes. In `reschedule`
mode a false poke ends the attempt with `AerovaneRescheduleException`; the runtime records it
as `up_for_reschedule` and the scheduler runs the same try again at the reschedule date.
`timeout` counts from the start of the first poke of the first try (across reschedules), which
the sensor asks the task runtime for (`ti.metadata`); it never reads the database itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.exceptions import (
    AerovaneException,
    AerovaneFailException,
    AerovaneRescheduleException,
    AerovaneSensorTimeout,
    AerovaneSkipException,
    AerovaneTaskTimeout,
)

__all__ = ["BaseSensorOperator", "PokeReturnValue", "poke_mode_only"]


class PokeReturnValue:
    """What `poke` may return instead of a bool: whether the sensor is done, and the value the
    task then returns (pushed as its XCom)."""

    def __init__(self, is_done: bool, xcom_value: Any | None = None) -> None:
        self.xcom_value = xcom_value
        self.is_done = is_done

    def __bool__(self) -> bool:
        return self.is_done

    def __repr__(self) -> str:
        return f"PokeReturnValue(is_done={self.is_done!r}, xcom_value={self.xcom_value!r})"


def _default_timeout() -> float:
    from aerovane.config import get_settings

    return get_settings().getfloat("sensors", "default_timeout")


def _seconds(value: dt.timedelta | float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise AerovaneException(
            f"Operator arg `{what}` must be timedelta object or a non-negative number"
        )
    if seconds < 0:
        raise AerovaneException(
            f"Operator arg `{what}` must be timedelta object or a non-negative number"
        )
    return seconds


class BaseSensorOperator(BaseOperator):
    """Calls `poke(context)` until it returns something true, then succeeds.

    `soft_fail` turns a timeout or a failing poke into a skip; `silent_fail` logs an unexpected
    poke error and keeps poking; `never_fail` skips on any poke error. With
    `exponential_backoff` the wait between pokes doubles (with a per-sensor jitter), capped by
    `max_wait`.
    """

    ui_color: ClassVar[str] = "#e6f1f2"
    valid_modes: ClassVar[Iterable[str]] = ("poke", "reschedule")

    def __init__(
        self,
        *,
        poke_interval: dt.timedelta | float = 60,
        timeout: dt.timedelta | float | None = None,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: dt.timedelta | float | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if soft_fail and never_fail:
            raise ValueError(
                "soft_fail and never_fail are mutually exclusive, you can not provide both."
            )
        self.poke_interval: float = _seconds(poke_interval, "poke_interval")  # type: ignore[assignment]
        self.timeout: float = _seconds(
            _default_timeout() if timeout is None else timeout, "timeout"
        )  # type: ignore[assignment]
        max_wait_seconds = _seconds(max_wait, "max_wait")
        self.max_wait = None if max_wait_seconds is None else dt.timedelta(seconds=max_wait_seconds)
        self.soft_fail = soft_fail
        self.silent_fail = silent_fail
        self.never_fail = never_fail
        self.exponential_backoff = exponential_backoff
        self.mode = mode
        if self.mode not in self.valid_modes:
            raise AerovaneException(
                f"The mode must be one of {list(self.valid_modes)},"
                f"'{self.dag.dag_id if self.has_dag() else ''}.{self.task_id}'; "
                f"received '{self.mode}'."
            )

    @property
    def reschedule(self) -> bool:
        return self.mode == "reschedule"

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Override: whether the condition holds now."""
        raise AerovaneException("Override me.")

    def execute(self, context: Mapping[str, Any]) -> Any:
        started_at: dt.datetime | float
        if self.reschedule:
            start_date = self._first_poke_start(context) or dt.datetime.now(dt.UTC)
            started_at = start_date

            def run_duration() -> float:
                return (dt.datetime.now(dt.UTC) - start_date).total_seconds()

        else:
            started_at = start_monotonic = time.monotonic()

            def run_duration() -> float:
                return time.monotonic() - start_monotonic

        poke_count = 1
        while True:
            done = self._poke_once(context)
            if done:
                self.log.info("Success criteria met. Exiting.")
                return done.xcom_value if isinstance(done, PokeReturnValue) else None
            if run_duration() > self.timeout:
                message = (
                    f"Sensor has timed out; run duration of {run_duration()} seconds exceeds "
                    f"the specified timeout of {self.timeout}."
                )
                if self.soft_fail:
                    raise AerovaneSkipException(message)
                raise AerovaneSensorTimeout(message)
            interval = self._next_poke_interval(started_at, run_duration, poke_count)
            if self.reschedule:
                raise AerovaneRescheduleException(
                    dt.datetime.now(dt.UTC) + dt.timedelta(seconds=interval)
                )
            time.sleep(interval)
            poke_count += 1

    def _poke_once(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        try:
            return self.poke(context)
        except (AerovaneSensorTimeout, AerovaneTaskTimeout, AerovaneFailException) as exc:
            if self.soft_fail:
                raise AerovaneSkipException("Skipping due to soft_fail is set to True.") from exc
            if self.never_fail:
                raise AerovaneSkipException("Skipping due to never_fail is set to True.") from exc
            raise
        except (AerovaneSkipException, AerovaneRescheduleException):
            raise
        except Exception as exc:
            if self.silent_fail:
                self.log.error("Sensor poke failed: \n %s", traceback.format_exc())
                return False
            if self.never_fail:
                raise AerovaneSkipException("Skipping due to never_fail is set to True.") from exc
            raise

    def _first_poke_start(self, context: Mapping[str, Any]) -> dt.datetime | None:
        """When the first try of this task instance (since it was last cleared) first poked."""
        ti = context["ti"]
        metadata = getattr(ti, "metadata", None)
        if metadata is None:  # `aerovane tasks test`: nothing was recorded
            return None
        first_try = (ti.max_tries or 0) - (self.retries or 0) + 1
        start: dt.datetime | None = metadata.first_reschedule_start(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
            from_try=first_try,
        )
        return start

    def _next_poke_interval(
        self,
        started_at: dt.datetime | float,
        run_duration: Callable[[], float],
        poke_count: int,
    ) -> float:
        """Airflow's backoff: poke_interval * 2**(n-2) plus a jitter from a hash of the sensor
        and its start, so many sensors started together spread out. In reschedule mode the
        poke count is estimated from the elapsed time, since each poke is a new process."""
        if not self.exponential_backoff:
            return self.poke_interval
        if self.reschedule:
            elapsed = run_duration()
            cumulative, estimated = 0.0, 0
            while cumulative <= elapsed:
                estimated += 1
                cumulative += self._backoff(started_at, estimated)
            poke_count = estimated or poke_count
        interval = min(self.timeout - int(run_duration()), self._backoff(started_at, poke_count))
        if self.max_wait:
            interval = min(self.max_wait.total_seconds(), interval)
        self.log.info("new %s interval is %s", self.mode, interval)
        return interval

    def _backoff(self, started_at: dt.datetime | float, poke_count: int) -> float:
        min_backoff = max(int(self.poke_interval * (2 ** (poke_count - 2))), 1)
        digest = hashlib.sha1(
            f"{self.dag_id}#{self.task_id}#{started_at}#{poke_count}".encode(),
            usedforsecurity=False,
        ).hexdigest()
        jittered = min_backoff + int(digest, 16) % min_backoff
        return min(jittered, dt.timedelta.max.total_seconds() - 1)


def poke_mode_only(cls: type[BaseSensorOperator]) -> type[BaseSensorOperator]:
    """Class decorator: instances of `cls` may only run in `poke` mode."""
    if not (isinstance(cls, type) and issubclass(cls, BaseSensorOperator)):
        raise ValueError(
            "poke_mode_only decorator should only be applied to subclasses of "
            f"BaseSensorOperator, got:{cls}."
        )

    def mode_getter(_self: BaseSensorOperator) -> str:
        return "poke"

    def mode_setter(_self: BaseSensorOperator, value: str) -> None:
        if value != "poke":
            raise ValueError(f"Cannot set mode to '{value}'. Only 'poke' is acceptable")

    cls.mode = property(mode_getter, mode_setter)  # type: ignore[assignment]
    return cls
