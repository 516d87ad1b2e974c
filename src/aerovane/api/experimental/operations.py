"""What the experimental endpoints do, over a session the caller owns (never committed here).

These mirror Airflow's `airflow.api.common.experimental` functions: their lookups, their error
messages and statuses (`ExperimentalError`), and their result shapes. They are the deprecated
API's own semantics (pool upserts, `{attr: str(value)}` dumps), so they live beside it rather
than in `aerovane.services`, which they use for everything shared (triggering, deleting DAGs,
DAG sources).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.notify import wake_on_commit
from aerovane.db.types import utcnow
from aerovane.services import dag_runs as dag_run_service
from aerovane.services import dags as dag_service
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound
from aerovane.states import DagRunState, DagRunType

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG

DEFAULT_POOL = "default_pool"
POOL_NAME_MAX = 256
PIPELINE_INLETS = "pipeline_inlets"
PIPELINE_OUTLETS = "pipeline_outlets"
_SPACED_OFFSET = re.compile(r" (\d\d(?::?\d\d)?)$")


class ExperimentalError(Exception):
    """An error answered as `{"error": message}` with `status` (Airflow's `err.status_code`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _dag_not_found(dag_id: str) -> ExperimentalError:
    return ExperimentalError(404, f"Dag id {dag_id} not found in DagModel")


def parse_execution_date(text: Any) -> dt.datetime:
    """An ISO-8601 date or date-time; without an offset it is UTC (Airflow's `timezone.parse`)."""
    try:
        if not isinstance(text, str):
            raise ValueError(text)
        value = text.strip()
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            # The `+` of an offset that URL-decoding turned into a space.
            parsed = dt.datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", value))
    except ValueError:
        raise ExperimentalError(
            400,
            f"Given execution date, {text}, could not be identified as a date. "
            "Example date format: 2015-11-16T14:34:15+00:00",
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def check_and_get_dag(
    dag_id: str, task_id: str | None = None, *, session: Session
) -> SerializedDAG:
    if session.get(models.DagModel, dag_id) is None:
        raise _dag_not_found(dag_id)
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ExperimentalError(404, f"Dag id {dag_id} not found")
    if task_id is not None and not dag.has_task(task_id):
        raise ExperimentalError(404, f"Task {task_id} not found in dag {dag_id}")
    return dag


def _get_dag_run(dag_id: str, execution_date: dt.datetime, *, session: Session) -> models.DagRun:
    run = session.scalar(
        select(models.DagRun).where(
            models.DagRun.dag_id == dag_id, models.DagRun.logical_date == execution_date
        )
    )
    if run is None:
        raise ExperimentalError(404, f"Dag Run for date {execution_date} not found in dag {dag_id}")
    return run


def dag_run_url(dag_id: str, execution_date: dt.datetime) -> str:
    """Where Airflow's UI shows the run (`url_for("Airflow.graph", ...)`)."""
    return f"/dags/{quote(dag_id, safe='')}/graph?execution_date={quote_plus(str(execution_date))}"


def _iso_or_empty(value: dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _run_repr(run: models.DagRun) -> str:
    """Airflow's `DagRun.__repr__`."""
    return (
        f"<DagRun {run.dag_id} @ {run.logical_date}: {run.run_id}, state:{run.state}, "
        f"queued_at: {run.queued_at}. externally triggered: {run.external_trigger}>"
    )


# -- DAGs and runs -------------------------------------------------------------------------------


def trigger_dag(
    dag_id: str,
    *,
    run_id: str | None,
    conf: dict[str, Any] | None,
    execution_date: dt.datetime | None,
    replace_microseconds: bool,
    session: Session,
) -> dict[str, Any]:
    """A queued manual run; a run with the same id or date is a 400 (not a 409)."""
    if session.get(models.DagModel, dag_id) is None:
        raise _dag_not_found(dag_id)
    logical_date = execution_date or utcnow()
    if replace_microseconds:
        logical_date = logical_date.replace(microsecond=0)
    effective_run_id = run_id or dag_run_service.generate_run_id(DagRunType.MANUAL, logical_date)
    try:
        run = dag_run_service.trigger_dag_run(
            dag_id,
            run_id=run_id or None,
            logical_date=logical_date,
            conf=conf or None,
            triggered_by="rest_api",
            session=session,
        )
    except AlreadyExists:
        raise ExperimentalError(
            400,
            f"A DAG Run already exists for DAG {dag_id} at {logical_date} "
            f"with run id {effective_run_id}",
        ) from None
    except NotFound:
        raise ExperimentalError(404, f"Dag id {dag_id} not found") from None
    except BadRequest as exc:
        raise ExperimentalError(400, str(exc)) from None
    wake_on_commit(session, "scheduler")
    return {
        "message": f"Created {_run_repr(run)}",
        "execution_date": run.logical_date.isoformat(),
        "run_id": run.run_id,
    }


def delete_dag(dag_id: str, *, session: Session) -> dict[str, Any]:
    try:
        count = dag_service.delete_dag(dag_id, session=session)
    except NotFound:
        raise ExperimentalError(404, f"Dag id {dag_id} not found") from None
    except dag_service.TaskInstancesStillRunning:
        raise ExperimentalError(500, "TaskInstances still running") from None
    return {"message": f"Removed {count} record(s)", "count": count}


def dag_runs(dag_id: str, state: str | None, *, session: Session) -> list[dict[str, Any]]:
    """A DAG's runs (optionally in one state), oldest first."""
    check_and_get_dag(dag_id, session=session)
    query = select(models.DagRun).where(models.DagRun.dag_id == dag_id)
    if state:
        try:
            query = query.where(models.DagRun.state == DagRunState(state.lower()).value)
        except ValueError:
            raise ExperimentalError(400, f"'{state}' is not a valid DagRunState") from None
    runs = session.scalars(query.order_by(models.DagRun.logical_date))
    return [
        {
            "id": run.id,
            "run_id": run.run_id,
            "state": run.state,
            "dag_id": run.dag_id,
            "execution_date": run.logical_date.isoformat(),
            "start_date": _iso_or_empty(run.start_date),
            "dag_run_url": dag_run_url(run.dag_id, run.logical_date),
        }
        for run in runs
    ]


def dag_code(dag_id: str, *, session: Session) -> str:
    check_and_get_dag(dag_id, session=session)
    dag_model = session.get(models.DagModel, dag_id)
    assert dag_model is not None
    try:
        return dag_service.get_dag_source(dag_model.fileloc, session=session)
    except NotFound as exc:
        raise ExperimentalError(500, f"Error {exc} while reading Dag id {dag_id} Code") from None


def task_info(dag_id: str, task_id: str, *, session: Session) -> dict[str, str]:
    """The task's public attributes as strings."""
    task = check_and_get_dag(dag_id, task_id, session=session).get_task(task_id)
    return {
        field.name: str(getattr(task, field.name))
        for field in dataclasses.fields(task)
        if not field.name.startswith("_")
    }


def set_paused(dag_id: str, paused: str, *, session: Session) -> bool:
    """Pause (only for the string "true") or unpause; returns whether the DAG was unpaused."""
    dag_model = session.get(models.DagModel, dag_id)
    if dag_model is None:
        raise _dag_not_found(dag_id)
    is_paused = paused == "true"
    unpaused = dag_model.is_paused and not is_paused
    dag_model.is_paused = is_paused
    session.flush()
    if unpaused:
        wake_on_commit(session, "scheduler")
    return unpaused


def is_paused(dag_id: str, *, session: Session) -> dict[str, bool]:
    dag_model = session.get(models.DagModel, dag_id)
    if dag_model is None:
        raise _dag_not_found(dag_id)
    return {"is_paused": bool(dag_model.is_paused)}


def task_instance_info(
    dag_id: str, execution_date: dt.datetime, task_id: str, *, session: Session
) -> dict[str, str]:
    """The task instance's columns as strings."""
    check_and_get_dag(dag_id, task_id, session=session)
    run = _get_dag_run(dag_id, execution_date, session=session)
    ti = session.get(models.TaskInstance, (dag_id, task_id, run.run_id, -1))
    if ti is None:
        raise ExperimentalError(404, f"Task {task_id} instance for date {execution_date} not found")
    return {
        column.key: str(getattr(ti, column.key))
        for column in models.TaskInstance.__mapper__.column_attrs
    }


def dag_run_state(dag_id: str, execution_date: dt.datetime, *, session: Session) -> dict[str, str]:
    check_and_get_dag(dag_id, session=session)
    return {"state": _get_dag_run(dag_id, execution_date, session=session).state}


def latest_runs(*, session: Session) -> dict[str, list[dict[str, Any]]]:
    """Each DAG's run with the newest logical date."""
    newest = (
        select(models.DagRun.dag_id, func.max(models.DagRun.logical_date).label("latest"))
        .group_by(models.DagRun.dag_id)
        .subquery()
    )
    runs = session.scalars(
        select(models.DagRun)
        .join(
            newest,
            (models.DagRun.dag_id == newest.c.dag_id)
            & (models.DagRun.logical_date == newest.c.latest),
        )
        .order_by(models.DagRun.dag_id)
    )
    return {
        "items": [
            {
                "dag_id": run.dag_id,
                "execution_date": run.logical_date.isoformat(),
                "start_date": _iso_or_empty(run.start_date),
                "dag_run_url": dag_run_url(run.dag_id, run.logical_date),
            }
            for run in runs
        ]
    }


def lineage(dag_id: str, execution_date: dt.datetime, *, session: Session) -> dict[str, Any]:
    """The inlets and outlets tasks of the run recorded (the `pipeline_*` XComs)."""
    check_and_get_dag(dag_id, session=session)
    run = _get_dag_run(dag_id, execution_date, session=session)
    rows = session.execute(
        select(models.XCom.task_id, models.XCom.key, models.XCom.value)
        .where(
            models.XCom.dag_run_id == run.id,
            models.XCom.key.in_((PIPELINE_INLETS, PIPELINE_OUTLETS)),
        )
        .order_by(models.XCom.task_id, models.XCom.map_index)
    )
    meta: dict[str, dict[str, Any]] = {}
    for task_id, key, raw in rows:
        try:
            value = json.loads(raw) if raw is not None else None
        except ValueError:
            value = raw
        kind = "inlets" if key == PIPELINE_INLETS else "outlets"
        meta.setdefault(task_id, {})[kind] = value
    return {"task_ids": meta}


# -- pools ---------------------------------------------------------------------------------------


def pool_to_json(pool: models.Pool) -> dict[str, Any]:
    return {
        "id": pool.id,
        "pool": pool.pool,
        "slots": pool.slots,
        "description": pool.description,
        "include_deferred": bool(pool.include_deferred),
    }


def _check_pool_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ExperimentalError(400, "Pool name shouldn't be empty")
    return name


def _find_pool(name: str, *, session: Session) -> models.Pool:
    pool = session.scalar(select(models.Pool).where(models.Pool.pool == name).limit(1))
    if pool is None:
        raise ExperimentalError(404, f"Pool '{name}' doesn't exist")
    return pool


def get_pool(name: str, *, session: Session) -> dict[str, Any]:
    return pool_to_json(_find_pool(_check_pool_name(name), session=session))


def get_pools(*, session: Session) -> list[dict[str, Any]]:
    return [pool_to_json(p) for p in session.scalars(select(models.Pool).order_by(models.Pool.id))]


def create_pool(params: Any, *, session: Session) -> dict[str, Any]:
    """Create the pool, or update its slots and description if it exists."""
    if not isinstance(params, dict):
        raise ExperimentalError(400, "The request body must be a JSON object")
    expected = ("name", "slots", "description")
    missing = [key for key in expected if key not in params]
    if missing:
        raise ExperimentalError(400, f"Missing required parameter(s): {', '.join(missing)}")
    extra = sorted(set(params) - set(expected))
    if extra:
        raise ExperimentalError(400, f"Unexpected parameter(s): {', '.join(extra)}")
    name = _check_pool_name(params["name"])
    try:
        if isinstance(params["slots"], bool):
            raise TypeError
        slots = int(params["slots"])
    except (TypeError, ValueError):
        raise ExperimentalError(400, f"Bad value for `slots`: {params['slots']}") from None
    if len(name) > POOL_NAME_MAX:
        raise ExperimentalError(400, f"Pool name can't be more than {POOL_NAME_MAX} characters")
    description = params["description"]
    if description is not None and not isinstance(description, str):
        description = str(description)
    pool = session.scalar(select(models.Pool).where(models.Pool.pool == name).limit(1))
    if pool is None:
        pool = models.Pool(pool=name, slots=slots, description=description, include_deferred=False)
        session.add(pool)
    else:
        pool.slots = slots
        pool.description = description
    session.flush()
    return pool_to_json(pool)


def delete_pool(name: str, *, session: Session) -> dict[str, Any]:
    _check_pool_name(name)
    if name == DEFAULT_POOL:
        raise ExperimentalError(400, f"{DEFAULT_POOL} cannot be deleted")
    pool = _find_pool(name, session=session)
    result = pool_to_json(pool)
    session.delete(pool)
    session.flush()
    return result
