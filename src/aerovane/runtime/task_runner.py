"""Running one task attempt inside its own process.

Claiming is a conditional update (`queued` with this try number → `running`), so a workload
delivered twice, or one whose task instance was cleared or marked meanwhile, never runs twice.
The final state is written with the same guard, so an external change made while the task ran
(mark success/failed, clear) is never overwritten. A heartbeat thread keeps `last_heartbeat_at`
fresh and terminates the attempt when its task instance was changed from outside.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import getpass
import logging
import os
import signal
import socket
import threading
import traceback
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.notify import wake_on_commit
from aerovane.db.types import utcnow
from aerovane.executors.base import TaskKey, TaskWorkload
from aerovane.identity.project import metadata_host
from aerovane.runtime.task_log import MaskedLog
from aerovane.states import TaskState

log = logging.getLogger("aerovane.task")

LOG_FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"


@functools.cache
def hostname() -> str:
    """The FQDN, resolved once in the parent (a DNS round trip per task would add ~5 ms)."""
    return socket.getfqdn()


class TaskTerminated(Exception):
    """SIGTERM arrived (the attempt was killed or its task instance changed from outside)."""


def _open_log(log_path: str) -> MaskedLog:
    return MaskedLog(log_path, LOG_FORMAT, get_settings().getstr("logging", "logging_level"))


def _ti_filter(key: TaskKey) -> list[Any]:
    ti = models.TaskInstance
    return [
        ti.dag_id == key.dag_id,
        ti.task_id == key.task_id,
        ti.run_id == key.run_id,
        ti.map_index == key.map_index,
        ti.try_number == key.try_number,
    ]


def _mark_running(key: TaskKey, *, session: Session) -> bool:
    now = utcnow()
    result = session.execute(
        update(models.TaskInstance)
        .where(*_ti_filter(key), models.TaskInstance.state == TaskState.QUEUED.value)
        .values(
            state=TaskState.RUNNING.value,
            start_date=now,
            end_date=None,
            duration=None,
            hostname=hostname(),
            unixname=getpass.getuser(),
            pid=os.getpid(),
            last_heartbeat_at=now,
        )
    )
    return result.rowcount == 1


def _claimed_rows(
    key: TaskKey, *, session: Session
) -> tuple[models.TaskInstance | None, models.DagRun | None]:
    ti = session.scalar(select(models.TaskInstance).where(*_ti_filter(key)))
    run = session.scalar(
        select(models.DagRun).where(
            models.DagRun.dag_id == key.dag_id, models.DagRun.run_id == key.run_id
        )
    )
    return ti, run


def _drop_xcoms(key: TaskKey, dag_run_id: int, *, session: Session) -> None:
    session.execute(
        delete(models.XCom).where(
            models.XCom.dag_run_id == dag_run_id,
            models.XCom.task_id == key.task_id,
            models.XCom.map_index == key.map_index,
        )
    )


def claim(key: TaskKey) -> tuple[models.TaskInstance, models.DagRun, Any] | None:
    """queued → running for this try, read the rows (and the DAG's previous successful run),
    drop the task's old XComs (unless resuming from a deferral): one write transaction. None if
    the attempt is no longer wanted."""
    with create_session() as session:
        if not _mark_running(key, session=session):
            return None
        ti, run = _claimed_rows(key, session=session)
        assert ti is not None and run is not None
        previous = _previous_success(run.dag_id, run.logical_date, session=session)
        if ti.next_method is None:  # a resumed deferral keeps what the attempt pushed
            _drop_xcoms(key, run.id, session=session)
        return ti, run, previous


def _previous_success(dag_id: str, logical_date: dt.datetime, *, session: Session) -> Any:
    """The DAG's latest successful run before `logical_date` (its dates, or None), for the
    context's `prev_*_success` values."""
    return session.execute(
        select(
            models.DagRun.logical_date,
            models.DagRun.start_date,
            models.DagRun.end_date,
            models.DagRun.data_interval_start,
            models.DagRun.data_interval_end,
        )
        .where(
            models.DagRun.dag_id == dag_id,
            models.DagRun.state == "success",
            models.DagRun.logical_date < logical_date,
        )
        .order_by(models.DagRun.logical_date.desc())
        .limit(1)
    ).first()


def _heartbeat_statement(key: TaskKey) -> Any:
    return (
        update(models.TaskInstance)
        .where(*_ti_filter(key), models.TaskInstance.state == TaskState.RUNNING.value)
        .values(last_heartbeat_at=utcnow())
    )


def _outcome_statement(key: TaskKey, values: dict[str, Any]) -> Any:
    return (
        update(models.TaskInstance)
        .where(*_ti_filter(key), models.TaskInstance.state == TaskState.RUNNING.value)
        .values(**values)
    )


def prime_statement_cache() -> None:
    """Run every statement an attempt runs once, matching no row, and roll back.

    SQLAlchemy compiles a statement the first time an engine sees its shape and caches the SQL
    on the engine. Called in the zygote, whose engine every task process inherits, this spares
    each attempt compiling its half-dozen statements (several milliseconds a task).
    """
    key = TaskKey(dag_id="", task_id="", run_id="", map_index=-2, try_number=-1)
    with create_session() as session:
        _mark_running(key, session=session)
        _claimed_rows(key, session=session)
        _previous_success("", dt.datetime.now(dt.UTC), session=session)
        _drop_xcoms(key, -1, session=session)
        values = {
            "state": "",
            "end_date": None,
            "duration": None,
            "next_retry_at": None,
            **_NO_DEFERRAL,
        }
        session.execute(_outcome_statement(key, values))
        session.execute(_outcome_statement(key, {**values, "rendered_fields": {}}))
        session.execute(
            _outcome_statement(key, {**values, "rendered_fields": {}, "rendered_map_index": ""})
        )
        session.execute(_heartbeat_statement(key))
        session.rollback()


def finish(
    key: TaskKey,
    state: TaskState,
    *,
    started: dt.datetime | None,
    next_retry_at: dt.datetime | None = None,
    rendered_fields: dict[str, Any] | None = None,
    xcoms: list[models.XCom] | None = None,
    dataset_events: list[Any] | None = None,
    rendered_map_index: str | None = None,
) -> bool:
    """Record the outcome (and the return-value XComs) in one transaction, unless the task
    instance was changed from outside meanwhile; its commit wakes the scheduler, which can go
    on to the downstream tasks while this process is still exiting."""
    recorded = _record_outcome(
        key,
        state,
        started=started,
        next_retry_at=next_retry_at,
        rendered_fields=None if rendered_fields is None else _masked_fields(rendered_fields),
        xcoms=xcoms,
        dataset_events=dataset_events,
        rendered_map_index=rendered_map_index,
    )
    return recorded


#: An outcome ends any deferral: the attempt no longer resumes.
_NO_DEFERRAL: dict[str, Any] = {
    "next_method": None,
    "next_kwargs": None,
    "trigger_id": None,
    "trigger_timeout": None,
}


def _masked_fields(rendered: dict[str, Any]) -> dict[str, Any]:
    """Rendered fields as stored: secrets known by the end of the attempt masked, and each
    field's value redacted under its name (so a field or key named `password` shows `***`)."""
    from aerovane.authoring.secrets_masker import redact

    return {name: redact(value, name) for name, value in rendered.items()}


def _record_outcome(
    key: TaskKey,
    state: TaskState,
    *,
    started: dt.datetime | None,
    next_retry_at: dt.datetime | None,
    rendered_fields: dict[str, Any] | None,
    xcoms: list[models.XCom] | None,
    dataset_events: list[Any] | None,
    rendered_map_index: str | None = None,
) -> bool:
    now = utcnow()
    with create_session() as session:
        values: dict[str, Any] = {
            "state": state.value,
            "end_date": now,
            "duration": (now - started).total_seconds() if started else None,
            "next_retry_at": next_retry_at,
            **_NO_DEFERRAL,
        }
        if rendered_fields is not None:
            values["rendered_fields"] = rendered_fields
        if rendered_map_index is not None:
            values["rendered_map_index"] = rendered_map_index[:250]
        result = session.execute(_outcome_statement(key, values))
        if result.rowcount != 1:
            return False
        for row in xcoms or ():
            session.execute(
                delete(models.XCom).where(
                    models.XCom.dag_run_id == row.dag_run_id,
                    models.XCom.task_id == row.task_id,
                    models.XCom.map_index == row.map_index,
                    models.XCom.key == row.key,
                )
            )
            session.add(row)
        if dataset_events:
            from aerovane.services.datasets import record_task_events

            record_task_events(
                dataset_events,
                dag_id=key.dag_id,
                task_id=key.task_id,
                run_id=key.run_id,
                map_index=key.map_index,
                session=session,
            )
        wake_on_commit(session, "scheduler")
        return True


def retry_delay_for(task: Any, try_number: int) -> dt.timedelta:
    """Airflow's backoff: delay * 2**(try-1), capped by max_retry_delay (default 24 h)."""
    delay: dt.timedelta = task.retry_delay
    if getattr(task, "retry_exponential_backoff", False):
        delay = delay * (2 ** max(0, try_number - 1))
        cap = getattr(task, "max_retry_delay", None) or dt.timedelta(days=1)
        delay = min(delay, cap)
    return delay


class Heartbeat(threading.Thread):
    """Keeps `last_heartbeat_at` fresh; in a task process of its own (`terminate`), ends the
    attempt with SIGTERM once its task instance was changed from outside."""

    def __init__(self, key: TaskKey, interval: float, *, terminate: bool = True) -> None:
        super().__init__(name="task-heartbeat", daemon=True)
        self.key = key
        self.interval = interval
        self.terminate = terminate
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with create_session() as session:
                    result = session.execute(_heartbeat_statement(self.key))
                    changed = result.rowcount == 0
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
                continue
            if changed and not self.stopped.is_set():
                if self.terminate:
                    log.warning("Task instance state was changed externally; terminating")
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    log.warning("Task instance state was changed externally")
                return


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


_METADATA_ENV = ("GCE_METADATA_HOST", "GCE_METADATA_IP")


def point_google_auth_at_metadata_server() -> None:
    """Tasks' google-auth finds Aerovane's metadata server (the IP is its ping), unless the
    environment already names one."""
    for name in _METADATA_ENV:
        os.environ.setdefault(name, metadata_host())


@contextlib.contextmanager
def metadata_server_env() -> Iterator[None]:
    """`point_google_auth_at_metadata_server` for tasks run in the caller's process
    (`dag.test()`): the caller's environment is as it was afterwards."""
    before = {name: os.environ.get(name) for name in _METADATA_ENV}
    point_google_auth_at_metadata_server()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_workload(payload: dict[str, Any]) -> int:
    """Entry point in the forked child. Returns the process exit code (0 unless internal error)."""
    workload = TaskWorkload.from_dict(payload)
    point_google_auth_at_metadata_server()
    task_log = _open_log(workload.log_path)
    try:
        key = workload.key
        claimed = claim(key)
        if claimed is None:
            log.info(
                "Task instance %s is no longer queued for try %d; not running it",
                key,
                key.try_number,
            )
            return 0
        from aerovane.control.live import apply_in_task_process  # the environment's live config

        apply_in_task_process(workload.environment)
        return _run_claimed(workload, *claimed)
    except Exception:
        log.exception("Internal error while running the task attempt")  # masked, unlike stderr
        raise
    finally:
        task_log.close()


def _run_claimed(
    workload: TaskWorkload,
    ti_row: models.TaskInstance,
    run_row: models.DagRun,
    previous_success: Any,
) -> int:
    from aerovane.dag_processing.importer import import_dag_file

    key = workload.key
    settings = get_settings()
    heartbeat = Heartbeat(key, settings.getfloat("scheduler", "task_heartbeat_sec"))
    heartbeat.start()
    log.info("Starting attempt %d of %d", key.try_number, ti_row.max_tries + 1)
    try:
        dags, _ = import_dag_file(workload.fileloc, settings.dags_folder)
        dag = dags.get(key.dag_id)
        if dag is None:
            raise LookupError(f"DAG {key.dag_id!r} could not be found in {workload.fileloc}")
        task = dag.get_task(key.task_id)
    except BaseException:  # noqa: BLE001 - any failure to load is a task failure
        log.error("Failed to load the task:\n%s", traceback.format_exc())
        heartbeat.stopped.set()
        _handle_failure(key, None, ti_row, retryable=True)
        return 0

    execute_attempt(
        key,
        dag,
        task,
        ti_row,
        run_row,
        heartbeat=heartbeat,
        own_process=True,
        previous_success=previous_success,
    )
    return 0


def _unmapped(task: Any, ti: Any) -> Any:
    """The operator of one map index: its mapped arguments replaced by that index's values."""
    from aerovane.authoring.mapping import element_kwargs, unmap

    def pull(task_id: str, key: str) -> Any:
        return ti.xcom_pull(task_ids=task_id, key=key)

    values = element_kwargs(task.expand_input, pull, ti.map_index, task.expand_callables)
    return unmap(task, values)


def execute_attempt(
    key: TaskKey,
    dag: Any,
    task: Any,
    ti_row: models.TaskInstance,
    run_row: models.DagRun,
    *,
    heartbeat: Heartbeat,
    own_process: bool,
    previous_success: Any = None,
) -> TaskState | None:
    """Run a claimed attempt of `task` here and record its outcome; stops `heartbeat` before
    recording. Returns the state recorded (None: the task instance was changed from outside).

    Shared by the task process (`own_process`: SIGTERM ends the attempt) and `dag.test()`,
    which runs each task in the calling process and leaves its signal handlers alone."""
    from aerovane.authoring.context import build_context, set_current_context
    from aerovane.authoring.datasets import InletEventsAccessors, TriggeringDatasetEvents
    from aerovane.authoring.exceptions import (
        AerovaneFailException,
        AerovaneRescheduleException,
        AerovaneSensorTimeout,
        AerovaneSkipException,
        AerovaneTaskTimeout,
        TaskDeferred,
    )
    from aerovane.authoring.templating import build_jinja_env
    from aerovane.runtime.client import TaskRuntimeClient
    from aerovane.runtime.task_instance import RuntimeTaskInstance
    from aerovane.runtime.xcom import RETURN_KEY, serialize_value

    ti = RuntimeTaskInstance(ti_row, run_row, task)
    ti.state = TaskState.RUNNING.value
    listeners = _listeners()
    _notify(listeners, "on_task_instance_running", previous_state=TaskState.QUEUED, ti=ti)
    rendered: dict[str, Any] | None = None
    xcoms: list[models.XCom] = []
    state = TaskState.SUCCESS
    retryable = True
    error: BaseException | None = None
    reschedule_date: dt.datetime | None = None
    deferral: TaskDeferred | None = None
    context: dict[str, Any] = {}
    interrupted: KeyboardInterrupt | None = None
    jinja_env: Any = None
    map_index_name: str | None = None

    def on_term(signum: int, _frame: object) -> None:
        raise TaskTerminated(f"received signal {signal.Signals(signum).name}")

    if own_process:
        signal.signal(signal.SIGTERM, on_term)
    # SIGALRM can only be handled on the main thread (dag.test() may run on another one).
    timeout = task.execution_timeout
    if threading.current_thread() is not threading.main_thread():
        timeout = None
    try:
        if ti.map_index >= 0 and getattr(task, "expand_input", None) is not None:
            task = _unmapped(task, ti)
            ti.task = task
        # params=None: DAG params, then the task's, then the run's conf, as Airflow merges them.
        context = build_context(
            dag=dag,
            task=task,
            ti=ti,
            dag_run=run_row,
            params=None,
            previous_success=previous_success,
        )
        client = TaskRuntimeClient(triggered_by=f"{key.dag_id}.{key.task_id}")
        context["client"] = client
        # Dataset events are read through the client, like any other metadata.
        context["inlet_events"] = InletEventsAccessors(task.inlets, client.dataset_events)
        context["triggering_dataset_events"] = TriggeringDatasetEvents(
            functools.partial(client.triggering_dataset_events, run_row.id)
        )
        jinja_env = build_jinja_env(dag)
        task.render_template_fields(context, jinja_env)
        rendered = {f: _jsonable(getattr(task, f, None)) for f in task.template_fields}
        log.info(
            "Executing <Task(%s): %s> on %s",
            type(task).__name__,
            task.task_id,
            run_row.logical_date.isoformat(),
        )
        task.pre_execute(context)
        if timeout is not None:

            def on_alarm(_signum: int, _frame: object) -> None:
                raise AerovaneTaskTimeout(f"Timeout, PID: {os.getpid()}")

            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout.total_seconds())
        try:
            _run_callbacks(task, "on_execute_callback", context)
            with set_current_context(context):
                if ti_row.next_method is not None:
                    log.info("Resuming after deferral in %s", ti_row.next_method)
                    result = task.resume_execution(ti_row.next_method, ti_row.next_kwargs, context)
                else:
                    result = task.execute(context)
        except BaseException:
            # The task's own error wins over one in its map index template.
            with contextlib.suppress(Exception):
                map_index_name = render_map_index(context, jinja_env)
            raise
        finally:
            if timeout is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
        map_index_name = render_map_index(context, jinja_env)
        task.post_execute(context, result)
        if getattr(task, "do_xcom_push", True) and result is not None:
            outputs = [(RETURN_KEY, result)]
            if getattr(task, "multiple_outputs", False) and isinstance(result, dict):
                outputs = [(str(k), v) for k, v in result.items()] + outputs
            xcoms = [
                models.XCom(
                    dag_run_id=run_row.id,
                    dag_id=key.dag_id,
                    run_id=key.run_id,
                    task_id=key.task_id,
                    map_index=key.map_index,
                    key=name,
                    value=serialize_value(value),
                )
                for name, value in outputs
            ]
        log.info(
            "Marking task as SUCCESS. dag_id=%s, task_id=%s, run_id=%s",
            key.dag_id,
            key.task_id,
            key.run_id,
        )
    except AerovaneSkipException as exc:
        state, error = TaskState.SKIPPED, exc
        log.info("Skipping task: %s", exc or "skip requested")
    except AerovaneRescheduleException as exc:
        state, reschedule_date = TaskState.UP_FOR_RESCHEDULE, exc.reschedule_date
    except TaskDeferred as exc:
        state, deferral = TaskState.DEFERRED, exc
    except AerovaneSensorTimeout as exc:
        state, retryable = TaskState.FAILED, False
        log.error("Sensor timed out (no retry): %s", exc)
    except (AerovaneTaskTimeout, TaskTerminated) as exc:
        state, error = TaskState.FAILED, exc
        log.error("Task failed: %s", exc)
        _safe_on_kill(task)
    except AerovaneFailException as exc:
        state, retryable, error = TaskState.FAILED, False, exc
        log.error("Task failed without retry: %s", exc)
    except KeyboardInterrupt as exc:
        state, error = TaskState.FAILED, exc
        if own_process:  # user code raised it: an ordinary failure
            log.error("Task failed with exception\n%s", traceback.format_exc())
        else:  # Ctrl-C in dag.test(): record the attempt without a retry, then stop
            retryable, interrupted = False, exc
            log.error("Task interrupted")
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything
        state, error = TaskState.FAILED, exc
        log.error("Task failed with exception\n%s", traceback.format_exc())
    finally:
        if own_process:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        heartbeat.stopped.set()

    if state == TaskState.FAILED:
        final = _handle_failure(
            key,
            task,
            ti_row,
            retryable=retryable,
            rendered=rendered,
            rendered_map_index=map_index_name,
        )
    elif reschedule_date is not None:
        final = _reschedule(key, ti_row, reschedule_date, rendered=rendered)
    elif deferral is not None:
        final = _defer(key, ti_row, deferral, rendered=rendered)
    else:
        events = None
        if state == TaskState.SUCCESS:
            from aerovane.authoring.datasets import task_events

            events = task_events(task.outlets, context.get("outlet_events"))
        done = finish(
            key,
            state,
            started=ti_row.start_date,
            rendered_fields=rendered,
            xcoms=xcoms,
            dataset_events=events,
            rendered_map_index=map_index_name,
        )
        final = state if done else None
    ti.state = final.value if final else ti.state
    if final == TaskState.SUCCESS:
        _notify(listeners, "on_task_instance_success", previous_state=TaskState.RUNNING, ti=ti)
    elif final in (TaskState.FAILED, TaskState.UP_FOR_RETRY):
        _notify(
            listeners,
            "on_task_instance_failed",
            previous_state=TaskState.RUNNING,
            ti=ti,
            error=error,
        )
    if final in (TaskState.FAILED, TaskState.UP_FOR_RETRY):
        context["exception"] = error
    callback = _CALLBACK_FOR_STATE.get(final) if final else None
    if callback:
        _run_callbacks(task, callback, context)
    if final in (TaskState.FAILED, TaskState.UP_FOR_RETRY):
        _email_alert(task, ti, final, error)
    if interrupted is not None:
        raise interrupted
    return final


def render_map_index(context: dict[str, Any], jinja_env: Any) -> str | None:
    """The task's `map_index_template` rendered with its context as the task left it (a task
    may set context keys for it), as Airflow names a map index; None without a template."""
    template = context.get("map_index_template")
    if template is None or jinja_env is None:
        return None
    return jinja_env.from_string(template).render(context)


def _listeners() -> list[Any]:
    from aerovane.authoring.plugins import load_plugins

    return load_plugins().listeners


def _notify(
    listeners: list[Any],
    hook: str,
    *,
    previous_state: TaskState,
    ti: Any,
    error: BaseException | None = None,
) -> None:
    """Airflow's task-instance listener hooks (plugins' `listeners`), after the state change."""
    if not listeners:
        return
    from aerovane.authoring.listeners import notify

    arguments: dict[str, Any] = {"previous_state": previous_state, "task_instance": ti}
    if hook == "on_task_instance_failed":
        arguments["error"] = error
    notify(listeners, hook, session=None, **arguments)


def _email_alert(task: Any, ti: Any, state: TaskState, error: BaseException | None) -> None:
    """Airflow's `email_on_failure` / `email_on_retry` mail to the task's `email`."""
    wanted = task.email_on_failure if state == TaskState.FAILED else task.email_on_retry
    if not task.email or not wanted:
        return
    import html

    from aerovane.authoring.email import send_email

    subject = f"Airflow alert: {ti!r}"
    body = (
        f"Try {ti.try_number} out of {ti.max_tries + 1}<br>"
        f"Exception:<br>{html.escape(repr(error))}<br>"
        f"Host: {html.escape(hostname())}<br>"
    )
    try:
        send_email(task.email, subject, body)
    except Exception:
        log.exception("Failed to send email to: %s", task.email)


def _handle_failure(
    key: TaskKey,
    task: Any,
    ti_row: models.TaskInstance,
    *,
    retryable: bool,
    rendered: dict[str, Any] | None = None,
    rendered_map_index: str | None = None,
) -> TaskState | None:
    max_tries, started = ti_row.max_tries, ti_row.start_date
    if retryable and key.try_number <= max_tries:
        delay = retry_delay_for(task, key.try_number) if task is not None else dt.timedelta(0)
        next_at = utcnow() + delay
        log.info(
            "Marking task as UP_FOR_RETRY (try %d of %d); next try at %s",
            key.try_number,
            max_tries + 1,
            next_at.isoformat(),
        )
        ok = finish(
            key,
            TaskState.UP_FOR_RETRY,
            started=started,
            next_retry_at=next_at,
            rendered_fields=rendered,
            rendered_map_index=rendered_map_index,
        )
        return TaskState.UP_FOR_RETRY if ok else None
    log.info(
        "Marking task as FAILED. dag_id=%s, task_id=%s, run_id=%s",
        key.dag_id,
        key.task_id,
        key.run_id,
    )
    ok = finish(
        key,
        TaskState.FAILED,
        started=started,
        rendered_fields=rendered,
        rendered_map_index=rendered_map_index,
    )
    return TaskState.FAILED if ok else None


def _reschedule(
    key: TaskKey,
    ti_row: models.TaskInstance,
    reschedule_date: dt.datetime,
    *,
    rendered: dict[str, Any] | None,
) -> TaskState | None:
    """End the attempt as `up_for_reschedule` with a `task_reschedule` row, in one transaction;
    the scheduler runs the same try again at `reschedule_date` (kept in `next_retry_at`)."""
    log.info(
        "Rescheduling task, marking task as UP_FOR_RESCHEDULE; next poke at %s",
        reschedule_date.isoformat(),
    )
    now = utcnow()
    started = ti_row.start_date or now
    with create_session() as session:
        values: dict[str, Any] = {
            "state": TaskState.UP_FOR_RESCHEDULE.value,
            "end_date": now,
            "duration": (now - started).total_seconds(),
            "next_retry_at": reschedule_date,
            **_NO_DEFERRAL,
        }
        if rendered is not None:
            values["rendered_fields"] = _masked_fields(rendered)
        if session.execute(_outcome_statement(key, values)).rowcount != 1:
            return None
        session.add(
            models.TaskReschedule(
                dag_id=key.dag_id,
                task_id=key.task_id,
                run_id=key.run_id,
                map_index=key.map_index,
                try_number=key.try_number,
                start_date=started,
                end_date=now,
                duration=int((now - started).total_seconds()),
                reschedule_date=reschedule_date,
            )
        )
        wake_on_commit(session, "scheduler")
    return TaskState.UP_FOR_RESCHEDULE


def _defer(
    key: TaskKey, ti_row: models.TaskInstance, deferral: Any, *, rendered: dict[str, Any] | None
) -> TaskState | None:
    """End the attempt as `deferred`: store its trigger and what it resumes with, in one
    transaction. The slot is free once this process exits; the triggerer takes it from here."""
    from aerovane.services.triggers import defer_task_instance, encode

    try:
        classpath, trigger_kwargs = deferral.trigger.serialize()
        encode(trigger_kwargs), encode(deferral.kwargs)
    except Exception:  # noqa: BLE001 - user code: a trigger that cannot be stored fails the try
        log.error("Failed to serialize the trigger:\n%s", traceback.format_exc())
        return _handle_failure(key, None, ti_row, retryable=True, rendered=rendered)
    timeout = deferral.timeout
    log.info(
        "Pausing task as DEFERRED. dag_id=%s, task_id=%s, run_id=%s",
        key.dag_id,
        key.task_id,
        key.run_id,
    )
    now = utcnow()
    with create_session() as session:
        values: dict[str, Any] = {
            "end_date": now,
            "duration": (now - (ti_row.start_date or now)).total_seconds(),
        }
        if rendered is not None:
            values["rendered_fields"] = _masked_fields(rendered)
        deferred = defer_task_instance(
            _ti_filter(key),
            classpath=classpath,
            trigger_kwargs=trigger_kwargs,
            next_method=deferral.method_name,
            next_kwargs=deferral.kwargs,
            timeout_at=now + timeout if timeout is not None else None,
            values=values,
            session=session,
        )
        if deferred:
            wake_on_commit(session, "triggerer")
    if not deferred:
        return None
    return TaskState.DEFERRED


def _safe_on_kill(task: Any) -> None:
    try:
        task.on_kill()
    except Exception:
        log.exception("on_kill failed")


_CALLBACK_FOR_STATE = {
    TaskState.SUCCESS: "on_success_callback",
    TaskState.FAILED: "on_failure_callback",
    TaskState.UP_FOR_RETRY: "on_retry_callback",
    TaskState.SKIPPED: "on_skipped_callback",
}


def _run_callbacks(task: Any, name: str, context: dict[str, Any]) -> None:
    """Call the task's callback(s) named `name`; an error in one is logged, never fatal."""
    callbacks = getattr(task, name, None)
    if not callbacks:
        return
    for callback in callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]:
        try:
            callback(context)
        except Exception:
            log.exception("Error when executing %s", name)
