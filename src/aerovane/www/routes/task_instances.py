"""A task instance's page: details, rendered templates, XComs, the log of each try (followed
while the try runs, by htmx polling a fragment), marking it success/failed and clearing it.

A mapped task without a map index shows its expanded instances. Same RBAC as the API: reading
needs the DAG and task instances, the log `Task Logs`, XComs `XComs`; changing needs edit on
the DAG and task instances.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from markupsafe import escape
from sqlalchemy import select
from starlette.responses import HTMLResponse, Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.rbac import DagEntity
from aerovane.services import task_instances as ti_service
from aerovane.services.browse import task_instance_xcoms
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import NotFound
from aerovane.services.grid import mapped_instances
from aerovane.services.task_logs import log_path, read_attempt_log
from aerovane.states import FINISHED_TI_VALUES, TaskState
from aerovane.www.access import requires_page_dag_access
from aerovane.www.audit import audit_page
from aerovane.www.errors import PageError, PageRoute
from aerovane.www.flash import redirect_with_flash
from aerovane.www.forms import PostedForm
from aerovane.www.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PATH = "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"
READ_TI = Depends(requires_page_dag_access("GET", DagEntity.TASK_INSTANCE))
EDIT_TI = Depends(requires_page_dag_access("PUT", DagEntity.TASK_INSTANCE))
READ_LOGS = Depends(requires_page_dag_access("GET", DagEntity.TASK_LOGS))
#: The most log text one poll returns; the next poll continues from there.
LOG_CHUNK = 256 * 1024
#: How often an open page asks for more of a running try's log.
POLL = "1s"
_ATTEMPT_OVER = FINISHED_TI_VALUES | {TaskState.UP_FOR_RETRY.value}


def ti_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1, **query: Any) -> str:
    parts = (quote(part, safe="") for part in (dag_id, run_id, task_id))
    url = "/dags/{}/runs/{}/tasks/{}".format(*parts)
    params = {k: v for k, v in query.items() if v is not None}
    if map_index >= 0:
        params = {"map_index": map_index, **params}
    return f"{url}?{urlencode(params)}" if params else url


def _map_index(request: Request) -> int | None:
    value = request.query_params.get("map_index")
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise PageError(400, "map_index must be a whole number.") from None


def _ti(dag_id: str, run_id: str, task_id: str, map_index: int | None, session: Any) -> Any:
    try:
        ti, _ = ti_service.get_task_instance(
            dag_id, run_id, task_id, map_index=map_index, session=session
        )
    except ti_service.TaskInstanceIsMapped:
        return None
    except NotFound:
        raise PageError(404, f"There is no task instance {task_id!r} in run {run_id!r}.") from None
    return ti


@router.get(PATH, dependencies=[READ_TI])
@db_handler
def task_instance(
    dag_id: str, run_id: str, task_id: str, request: Request, session: DbSession
) -> Response:
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise PageError(404, f"There is no DAG {dag_id!r}.")
    map_index = _map_index(request)
    ti = _ti(dag_id, run_id, task_id, map_index, session)
    task = dag.task_dict.get(task_id)
    context: dict[str, Any] = {
        "dag": dag,
        "model": dag_model(dag_id, session),
        "tab": "task",
        "run_id": run_id,
        "task_id": task_id,
        "task": task,
        "ti": ti,
        "ti_url": ti_url,
    }
    if ti is None:  # mapped, no index given: the expanded instances
        context["instances"] = mapped_instances(dag_id, run_id, task_id, session=session)
        return render(request, "dags/mapped.html", context)
    tries = session.execute(
        select(ti_service.tries_query(dag_id, run_id, task_id, ti.map_index).subquery())
    ).all()
    attempts = sorted({row.try_number for row in tries if row.try_number > 0})
    chosen = _int(request.query_params.get("try"), ti.try_number)
    if attempts and chosen not in attempts:
        chosen = attempts[-1]
    log_text, offset, over = "", 0, True
    if chosen > 0:
        log_text, offset = read_attempt_log(
            log_path(dag_id, run_id, task_id, chosen, ti.map_index),
            hostname=ti.hostname,
            attempt_over=_attempt_over(ti, chosen),
            limit=LOG_CHUNK,
        )
        over = _attempt_over(ti, chosen) and offset < LOG_CHUNK
    context.update(
        {
            "tries": tries,
            "attempts": attempts,
            "chosen_try": chosen,
            "log_text": log_text,
            "log_next": None
            if over
            else _log_url(dag_id, run_id, task_id, ti.map_index, chosen, offset),
            "xcoms": task_instance_xcoms(dag_id, run_id, task_id, ti.map_index, session=session),
            "rendered": ti.rendered_fields or {},
            "try_state": ti_service.try_state,
        }
    )
    return render(request, "dags/task_instance.html", context)


def dag_model(dag_id: str, session: Any) -> Any:
    from aerovane.db.models import DagModel

    return session.get(DagModel, dag_id)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _attempt_over(ti: Any, try_number: int) -> bool:
    return try_number < ti.try_number or ti.state in _ATTEMPT_OVER


def _log_url(
    dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, offset: int
) -> str:
    base = ti_url(dag_id, run_id, task_id).split("?", 1)[0]
    query = {"try": try_number, "offset": offset}
    if map_index >= 0:
        query["map_index"] = map_index
    return f"{base}/log?{urlencode(query)}"


def _poller(url: str) -> str:
    return (
        f'<span class="log-follow" hx-get="{escape(url)}" hx-trigger="load delay:{POLL}" '
        'hx-swap="outerHTML"></span>'
    )


@router.get(PATH + "/log", dependencies=[READ_TI, READ_LOGS])
@db_handler
def log_fragment(
    dag_id: str, run_id: str, task_id: str, request: Request, session: DbSession
) -> Response:
    """The log text after `offset` (escaped) and, while the try may still write, the element
    that asks again: htmx puts both where the previous poller was, inside the log's <pre>."""
    q = request.query_params
    map_index = _map_index(request)
    ti = _ti(dag_id, run_id, task_id, map_index if map_index is not None else -1, session)
    if ti is None:
        raise PageError(404, "Name the mapped instance (map_index).")
    try_number = _int(q.get("try"), ti.try_number)
    offset = max(0, _int(q.get("offset"), 0))
    text, end = read_attempt_log(
        log_path(dag_id, run_id, task_id, try_number, ti.map_index),
        hostname=ti.hostname,
        attempt_over=_attempt_over(ti, try_number),
        offset=offset,
        limit=LOG_CHUNK,
    )
    html = str(escape(text))
    if not (_attempt_over(ti, try_number) and end - offset < LOG_CHUNK):
        html += _poller(_log_url(dag_id, run_id, task_id, ti.map_index, try_number, end))
    return HTMLResponse(html)


def _flag(form: Any, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


@router.post(PATH + "/state", dependencies=[EDIT_TI, Depends(audit_page("set_state"))])
@db_handler
def set_state(
    dag_id: str, run_id: str, task_id: str, request: Request, form: PostedForm, session: DbSession
) -> Response:
    """Mark success or failed (with upstream/downstream/past/future, as Airflow's buttons)."""
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None or not dag.has_task(task_id):
        raise PageError(404, f"There is no task {task_id!r} in DAG {dag_id!r}.")
    state = form.get("state")
    if state not in (TaskState.SUCCESS.value, TaskState.FAILED.value):
        raise PageError(400, "A task instance can be marked success or failed.")
    run = ti_service.find_run(dag_id, run_id=run_id, session=session)
    if run is None:
        raise PageError(404, f"There is no run {run_id!r}.")
    map_index = _int(form.get("map_index"), -1)
    ti_service.set_task_instance_state(
        dag,
        task_id=task_id,
        run=run,
        state=state,
        map_indexes=[map_index] if map_index >= 0 else None,
        upstream=_flag(form, "upstream"),
        downstream=_flag(form, "downstream"),
        future=_flag(form, "future"),
        past=_flag(form, "past"),
        commit=True,
        session=session,
    )
    return redirect_with_flash(ti_url(dag_id, run_id, task_id, map_index), f"Marked {state}.")


@router.post(PATH + "/clear", dependencies=[EDIT_TI, Depends(audit_page("clear"))])
@db_handler
def clear(
    dag_id: str, run_id: str, task_id: str, request: Request, form: PostedForm, session: DbSession
) -> Response:
    """Clear the task instance (and, if asked, its downstream/upstream tasks) in this run."""
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None or not dag.has_task(task_id):
        raise PageError(404, f"There is no task {task_id!r} in DAG {dag_id!r}.")
    run = ti_service.find_run(dag_id, run_id=run_id, session=session)
    if run is None:
        raise PageError(404, f"There is no run {run_id!r}.")
    selected = ti_service.find_task_instances_to_clear(
        dag,
        task_ids=[task_id],
        start_date=None if _flag(form, "past") else run.logical_date,
        end_date=None if _flag(form, "future") else run.logical_date,
        only_failed=_flag(form, "only_failed"),
        include_upstream=_flag(form, "upstream"),
        include_downstream=_flag(form, "downstream"),
        lock=True,
        session=session,
    )
    map_index = _int(form.get("map_index"), -1)
    if map_index >= 0:
        selected = [(t, d) for t, d in selected if t.task_id != task_id or t.map_index == map_index]
    if selected:
        ti_service.clear_task_instances(
            [t for t, _ in selected], dag=dag, reset_dag_runs=True, session=session
        )
        count = len(selected)
    return redirect_with_flash(
        ti_url(dag_id, run_id, task_id, map_index),
        f"Cleared {count} task instance{'s' if count != 1 else ''}.",
    )
