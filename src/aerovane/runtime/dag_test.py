"""`dag.test()` and `aerovane dags test`: one run of one DAG, driven entirely in this process.

Airflow 2.10's semantics: the run is created here (a manual run, `triggered_by="test"`), each
ready task runs in this process, one after another in dependency order, and each task's log is
printed as it happens (and written to the task's log file, for the UI). There is no scheduler
pass and no executor, so nothing else is touched: other runs and their task processes, the
DAG's pause flag and its schedule stay as they were. Schedulers leave runs marked as test runs
alone (`scheduler.runs.scheduler_owned`), so a live environment never races this process for
the run's tasks. A deferred task's trigger runs here too, to its first event, and the task
resumes here; should a live triggerer also pick the trigger up, the guarded resume
(`services.triggers`) lets the task resume once.

What it must not do: create or change any run but its own, or start task processes.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, update

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow
from aerovane.executors.base import TaskKey
from aerovane.states import TEST_RUN_TRIGGER, DagRunState, DagRunType, TaskState

log = logging.getLogger("aerovane.dag_test")

TI = models.TaskInstance


@dataclass
class DagTestResult:
    """What `dag.test()` returns: the run's identity, its final state and each task's state."""

    dag_id: str
    run_id: str
    logical_date: dt.datetime
    state: str
    task_states: dict[str, str | None] = field(default_factory=dict)


class DagNotFound(LookupError):
    """No file in the DAG folder defines the DAG (or its file fails to import)."""


def load_dag(dag_id: str, subdir: str | Path | None = None) -> Any:
    """`dag_id` freshly imported from its file: the one the metadata database names, else the
    first file of the DAG folder that defines it (as Airflow's `get_dag` parses the folder).
    With `subdir` (Airflow's `-S`, a file or folder), only the files there are looked at."""
    from aerovane.config import get_settings
    from aerovane.dag_processing.importer import import_dag_file
    from aerovane.dag_processing.manager import list_dag_files

    settings = get_settings()
    folder = settings.dags_folder
    candidates: list[str] = []
    if subdir is not None:
        chosen = Path(subdir).expanduser()
        if chosen.is_file():
            candidates, folder = [str(chosen.resolve())], chosen.parent
        elif chosen.is_dir():
            candidates, folder = sorted(list_dag_files(chosen, include_examples=False)), chosen
        else:
            raise DagNotFound(f"-S/--subdir {subdir} is neither a DAG file nor a folder")
    else:
        known: str | None = None
        with contextlib.suppress(Exception), create_session(readonly=True) as session:
            known = session.scalar(
                select(models.DagModel.fileloc).where(models.DagModel.dag_id == dag_id)
            )
        candidates = [known] if known and Path(known).is_file() else []
        candidates += sorted(
            list_dag_files(settings.dags_folder, settings.getboolean("core", "load_examples"))
        )
    failures: list[str] = []
    for path in dict.fromkeys(candidates):
        try:
            dags, _ = import_dag_file(path, folder)
        except Exception as exc:  # noqa: BLE001 - a broken file is reported, others still tried
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        if dag_id in dags:
            return dags[dag_id]
    hint = f" (files that failed to import: {'; '.join(failures)})" if failures else ""
    raise DagNotFound(f"DAG {dag_id!r} is not defined in {folder}{hint}")


def run_dag_test(
    dag: Any,
    *,
    logical_date: dt.datetime | None = None,
    conf: dict[str, Any] | None = None,
    echo: Callable[[str], None] | None = None,
) -> DagTestResult:
    """Run `dag` once in this process (see the module docstring); return the run's outcome.

    Raises AlreadyExists when the DAG already has a run at `logical_date` (Airflow deletes that
    run; Aerovane leaves it alone), and ParamValidationError when `conf` fails the params.
    """
    from aerovane.authoring.serialization import SerializedDAG, serialize_dag
    from aerovane.config import ensure_home
    from aerovane.control.live import refresh
    from aerovane.db.migrate import migrate
    from aerovane.runtime.task_runner import metadata_server_env
    from aerovane.services.dag_runs import create_dag_run, generate_run_id

    say = echo or _print
    ensure_home()
    migrate()
    refresh()  # the environment's live overrides and variables, as its task processes get them
    data = serialize_dag(dag)  # validates the DAG
    serialized = SerializedDAG.from_dict(data)
    _register_if_unknown(dag, data)
    when = logical_date or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    dag.params.resolve(conf or {})  # the run's params must validate, as for a trigger
    run_id = generate_run_id(DagRunType.MANUAL, when)
    with create_session() as session:
        run = create_dag_run(
            serialized,
            run_id=run_id,
            logical_date=when,
            data_interval=dag.timetable.infer_manual_data_interval(run_after=when),
            run_type=DagRunType.MANUAL,
            conf=conf,
            external_trigger=True,
            state=DagRunState.RUNNING,
            triggered_by=TEST_RUN_TRIGGER,
            session=session,
        )
        run.start_date = utcnow()
        run_pk = run.id
    say(f"[dag test] {dag.dag_id}: created run {run_id}")
    try:
        with metadata_server_env():  # tasks find the metadata server, as in a task process
            state = _drive(dag, serialized, run_pk, say)
    except BaseException:
        _abandon(run_pk)
        raise
    with create_session(readonly=True) as session:
        task_states = dict(
            session.execute(
                select(TI.task_id, TI.state)
                .where(TI.dag_id == dag.dag_id, TI.run_id == run_id)
                .order_by(TI.task_id)
            ).all()
        )
    say(f"[dag test] {dag.dag_id} {run_id}: run {state}")
    return DagTestResult(dag.dag_id, run_id, when, state, task_states)


def _register_if_unknown(dag: Any, data: dict[str, Any]) -> None:
    """A DAG the metadata database has never seen is stored as the DAG processor would store
    it (created paused or not per `dags_are_paused_at_creation`), so its run shows in the UI
    and API. A known DAG is left as it is: its row, pause flag and schedule are not ours."""
    from aerovane.dag_processing.writer import store_parse_result

    fileloc = str(Path(dag.fileloc).resolve()) if dag.fileloc else ""
    with create_session() as session:
        if session.get(models.DagModel, dag.dag_id) is not None:
            return
        siblings = session.scalar(
            select(models.DagModel.dag_id).where(models.DagModel.fileloc == fileloc).limit(1)
        )
        if siblings is not None:
            return  # storing one DAG of a file would deactivate the others; the processor will
        store_parse_result(fileloc, [data], None, session=session)


def _drive(dag: Any, serialized: Any, run_pk: int, say: Callable[[str], None]) -> str:
    """Advance the run as a scheduler pass would, run the next ready task here, repeat."""
    from aerovane.scheduler.queueing import archive_try
    from aerovane.scheduler.runs import advance_run

    while True:
        with create_session() as session:
            run = session.get(models.DagRun, run_pk)
            assert run is not None
            progress = advance_run(run, session=session, dag=serialized)
            if progress.finished:
                return progress.finished
            session.flush()
            ti = session.scalar(
                select(TI)
                .where(
                    TI.dag_id == run.dag_id,
                    TI.run_id == run.run_id,
                    TI.state == TaskState.SCHEDULED.value,
                )
                .order_by(TI.priority_weight.desc(), TI.task_id)
                .limit(1)
            )
            key = None
            if ti is not None:
                # A new try, not a rescheduled sensor's next poke nor a deferred task's resume.
                if ti.next_retry_at is None and ti.next_method is None:
                    if ti.try_number > 0:
                        archive_try(ti, session=session)
                    ti.try_number += 1
                ti.state = TaskState.QUEUED.value
                ti.queued_dttm = utcnow()
                ti.queued_by_job_id = None
                ti.executor = None
                ti.next_retry_at = None
                key = TaskKey(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number)
        if key is not None:
            _run_task(dag, key, say)
        elif _run_a_trigger(run_pk, say):
            continue
        elif progress.next_retry_at is not None:
            wait = (progress.next_retry_at - utcnow()).total_seconds()
            say(f"[dag test] waiting {max(wait, 0):.1f}s for the next retry or poke")
            time.sleep(max(0.0, min(wait, 60.0)))
        else:
            # Nothing ready, deferred or to wait for: advance_run fails a deadlocked run, so
            # this is a task in a state dag.test() does not drive.
            raise RuntimeError(f"run of {dag.dag_id} cannot progress: no task is ready to run")


def _run_a_trigger(run_pk: int, say: Callable[[str], None]) -> bool:
    """Run the trigger of one deferred task instance of the run here, until its first event
    (or its timeout), then resume the task with it, as Airflow 2.10's `dag.test()` runs
    triggers in line. False when no task instance of the run is deferred."""
    from aerovane.services import triggers
    from aerovane.services.task_logs import log_path

    with create_session(readonly=True) as session:
        run = session.get(models.DagRun, run_pk)
        assert run is not None
        row = session.execute(
            select(TI, models.Trigger)
            .join(models.Trigger, models.Trigger.id == TI.trigger_id)
            .where(
                TI.dag_id == run.dag_id,
                TI.run_id == run.run_id,
                TI.state == TaskState.DEFERRED.value,
            )
            .order_by(TI.priority_weight.desc(), TI.task_id, TI.map_index)
            .limit(1)
        ).first()
        if row is None:
            return False
        ti, trigger = row
        key = TaskKey(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number)
        work = (trigger.id, trigger.classpath, triggers.decode(trigger.kwargs))
        timeout_at = ti.trigger_timeout
    say(f"[dag test] running the trigger of {key.task_id} in this process")
    path = log_path(key.dag_id, key.run_id, key.task_id, key.try_number, key.map_index)
    with _task_output(path):
        event, failure = _run_trigger_in_line(work[1], work[2], timeout_at)
    with create_session() as session:
        if failure is None:
            triggers.submit_event(work[0], event, session=session)
        else:
            triggers.submit_failure(work[0], failure[0], failure[1], session=session)
    return True


def _run_trigger_in_line(
    classpath: str, kwargs: dict[str, Any], timeout_at: dt.datetime | None
) -> tuple[Any, tuple[str, list[str] | None] | None]:
    """(event payload, None) once the trigger fires, or (None, (error, traceback)) when it
    raises, ends without an event or outlives the deferral's timeout."""
    import asyncio
    import traceback

    from aerovane.authoring.triggers.base import TriggerEvent, import_trigger
    from aerovane.runtime.metadata import TaskMetadataClient
    from aerovane.services.triggers import TRIGGER_TIMEOUT

    triggers_log = logging.getLogger("aerovane.triggers")

    async def first_event() -> Any:
        trigger = import_trigger(classpath)(**kwargs)
        trigger.metadata = TaskMetadataClient()
        trigger.log.info("trigger %s starting", trigger)
        try:
            async for event in trigger.run():
                if not isinstance(event, TriggerEvent):
                    raise TypeError(f"trigger yielded {event!r}, not a TriggerEvent")
                trigger.log.info("Trigger fired event %r", event.payload)
                return event.payload
        finally:
            trigger.cleanup()
        raise RuntimeError("Trigger exited without sending an event")

    remaining = None if timeout_at is None else max(0.0, (timeout_at - utcnow()).total_seconds())
    try:
        return asyncio.run(asyncio.wait_for(first_event(), remaining)), None
    except TimeoutError:
        triggers_log.error("Trigger timed out")
        return None, (TRIGGER_TIMEOUT, None)
    except Exception as exc:  # noqa: BLE001 - a broken trigger fails its task, as in the triggerer
        trace = traceback.format_exception(exc)
        triggers_log.error("Trigger failed:\n%s", "".join(trace))
        return None, (repr(exc), trace)


def _run_task(dag: Any, key: TaskKey, say: Callable[[str], None]) -> None:
    from aerovane.config import get_settings
    from aerovane.runtime.task_runner import Heartbeat, claim, execute_attempt
    from aerovane.services.task_logs import log_path

    claimed = claim(key)
    if claimed is None:  # changed from outside (cleared, marked) between our two writes
        say(f"[dag test] {key.task_id} is no longer queued; skipping it")
        return
    ti_row, run_row, previous_success = claimed
    say(f"[dag test] running {key.task_id} (try {key.try_number})")
    heartbeat = Heartbeat(
        key, get_settings().getfloat("scheduler", "task_heartbeat_sec"), terminate=False
    )
    heartbeat.start()
    path = log_path(key.dag_id, key.run_id, key.task_id, key.try_number, key.map_index)
    try:
        with _task_output(path):
            log.info("Starting attempt %d of %d", key.try_number, ti_row.max_tries + 1)
            final = execute_attempt(
                key,
                dag,
                # A fresh copy per attempt, as a task process gets: rendering templates and
                # operators' own bookkeeping change the task object in place.
                copy.copy(dag.get_task(key.task_id)),
                ti_row,
                run_row,
                heartbeat=heartbeat,
                own_process=False,
                previous_success=previous_success,
            )
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
    say(f"[dag test] {key.task_id}: {final.value if final else 'changed from outside'}")


def _abandon(run_pk: int) -> None:
    """Interrupted or failed here: fail what this process was running and the run, so no run is
    left `running` with nobody to drive it."""
    now = utcnow()
    with create_session() as session:
        run = session.get(models.DagRun, run_pk)
        if run is None or run.state != DagRunState.RUNNING.value:
            return
        session.execute(
            update(TI)
            .where(
                TI.dag_id == run.dag_id,
                TI.run_id == run.run_id,
                TI.state.in_((TaskState.QUEUED.value, TaskState.RUNNING.value)),
            )
            .values(state=TaskState.FAILED.value, end_date=now)
        )
        run.state = DagRunState.FAILED.value
        run.end_date = now


class _Tee:
    """A text stream writing to the console and the task's log file at once."""

    def __init__(self, console: IO[str], logfile: IO[str]) -> None:
        self._console = console
        self._logfile = logfile

    def write(self, text: str) -> int:
        self._logfile.write(text)
        self._console.write(text)
        return len(text)

    def flush(self) -> None:
        self._logfile.flush()
        self._console.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"


@contextlib.contextmanager
def _task_output(path: Path) -> Iterator[None]:
    """While a task runs: its prints and log records go to the console as they happen and to
    its log file. The root logger's handlers and level are restored afterwards."""
    from aerovane.authoring.secrets_masker import get_masker
    from aerovane.config import get_settings
    from aerovane.runtime.task_log import MaskedStream
    from aerovane.runtime.task_runner import LOG_FORMAT

    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved = (sys.stdout, sys.stderr, list(root.handlers), root.level)
    with path.open("a", encoding="utf-8", buffering=1) as logfile:
        # Secrets masked as in a task process's log (aerovane.runtime.task_log).
        tee = MaskedStream(_Tee(sys.stdout, logfile))  # type: ignore[arg-type]
        handler = logging.StreamHandler(tee)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(get_masker())
        for old in saved[2]:
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(get_settings().getstr("logging", "logging_level"))
        sys.stdout = sys.stderr = tee  # type: ignore[assignment]
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved[0], saved[1]
            root.removeHandler(handler)
            for old in saved[2]:
                root.addHandler(old)
            root.setLevel(saved[3])


def _print(line: str) -> None:
    print(line, flush=True)
