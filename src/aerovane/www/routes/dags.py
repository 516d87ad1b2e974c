"""The DAG pages: the list (`/home`), and for one DAG its grid, graph, code, runs and the
trigger form; pausing from the list.

Handlers gather data from `services` and render a template; every one is guarded by the same
RBAC as the API (`requires_page_dag_access`, per-DAG grants included), and buttons are shown only
when `access.can_dag(...)` allows them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DagEntity, permitted_dag_ids
from aerovane.services import dags as dag_service
from aerovane.services.browse import RunFilter, dag_runs_page
from aerovane.services.dag_list import DagListFilter, dag_list_page
from aerovane.services.dag_runs import trigger as trigger_run
from aerovane.services.errors import BadRequest, NotFound, ServiceError
from aerovane.services.grid import MAX_RUNS, graph_data, grid_data, run_task_states
from aerovane.services.strict_json import InvalidJson, loads
from aerovane.states import DagRunState, DagRunType
from aerovane.www.access import requires_page_dag_access
from aerovane.www.audit import audit_page
from aerovane.www.auth import HOME_PATH, PagePrincipal
from aerovane.www.errors import PageError, PageRoute
from aerovane.www.flash import redirect_with_flash
from aerovane.www.forms import PostedForm
from aerovane.www.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

READ_DAG = Depends(requires_page_dag_access("GET"))
EDIT_DAG = Depends(requires_page_dag_access("PUT"))
READ_RUNS = Depends(requires_page_dag_access("GET", DagEntity.RUN))
CREATE_RUN = Depends(requires_page_dag_access("POST", DagEntity.RUN))
READ_CODE = Depends(requires_page_dag_access("GET", DagEntity.CODE))
PAGE_SIZE = 25
RUN_STATES = [s.value for s in DagRunState]
RUN_TYPES = [t.value for t in DagRunType]


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value not in (None, "") else default
    except ValueError:
        return default
    return max(low, min(number, high))


def _choice(value: str | None, allowed: list[str]) -> str | None:
    return value if value in allowed else None


# -- the list -----------------------------------------------------------------------------------


@router.get(HOME_PATH, dependencies=[READ_DAG])
@db_handler
def home(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    q = request.query_params
    status = q.get("status", "all")
    paused = {"active": False, "paused": True}.get(status)
    filters = DagListFilter(
        search=q.get("search", "").strip()[:250],
        tags=tuple(t for t in q.getlist("tags") if t)[:20],
        owner=q.get("owner", "").strip()[:250],
        paused=paused,
        readable=permitted_dag_ids(principal.permissions, READ),
    )
    page_number = _int(q.get("page"), 1, 1, 1_000_000)
    page = dag_list_page(
        filters, offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE, session=session
    )
    pages = max(1, -(-page.total // PAGE_SIZE))
    kept = [(k, v) for k, v in q.multi_items() if k != "page"]
    return render(
        request,
        "dags/list.html",
        {
            "page": page,
            "filters": filters,
            "status": status if paused is not None else "all",
            "page_number": page_number,
            "pages": pages,
            "page_query": lambda n: urlencode([*kept, ("page", str(n))]),
            "now": dt.datetime.now(dt.UTC),
        },
    )


@router.post("/dags/{dag_id}/paused", dependencies=[EDIT_DAG, Depends(audit_page("paused"))])
@db_handler
def set_paused(dag_id: str, request: Request, form: PostedForm, session: DbSession) -> Response:
    """The list's pause toggle (a form; htmx swaps the toggle in place)."""
    _dag(dag_id, session)  # 404 page for an unknown DAG
    is_paused = form.get("is_paused") == "true"
    dag_service.set_paused([dag_id], is_paused, session=session)
    if request.headers.get("hx-request"):
        return render(
            request, "dags/_pause_toggle.html", {"dag_id": dag_id, "is_paused": is_paused}
        )
    return RedirectResponse(_local(form.get("next")) or HOME_PATH, status_code=303)


def _local(target: str) -> str:
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else ""


# -- one DAG ------------------------------------------------------------------------------------


def _dag(dag_id: str, session: Any) -> tuple[Any, Any]:
    try:
        return dag_service.get_dag_with_model(dag_id, session=session)
    except NotFound:
        raise PageError(404, f"There is no DAG {dag_id!r}.") from None


@router.get("/dags/{dag_id}", dependencies=[READ_DAG])
async def dag_default(dag_id: str) -> Response:
    return RedirectResponse(f"/dags/{_quote(dag_id)}/grid", status_code=302)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


@router.get("/dags/{dag_id}/grid", dependencies=[READ_DAG, READ_RUNS])
@db_handler
def grid(dag_id: str, request: Request, session: DbSession) -> Response:
    model, dag = _dag(dag_id, session)
    q = request.query_params
    num_runs = _int(q.get("num_runs"), 25, 1, MAX_RUNS)
    run_state = _choice(q.get("run_state"), RUN_STATES)
    run_type = _choice(q.get("run_type"), RUN_TYPES)
    data = grid_data(
        dag, num_runs=num_runs, run_state=run_state, run_type=run_type, session=session
    )
    all_groups = [row.id for row in data.rows if row.kind == "group"]
    expanded = set(q.getlist("expand")) & set(all_groups)
    parents = {row.id: row.parent for row in data.rows}
    visible = {row.id for row in data.rows if _all_open(row, parents, expanded)}
    kept = [(k, v) for k, v in q.multi_items() if k != "expand"]

    def expand_query(groups: Any) -> str:
        return urlencode([*kept, *(("expand", g) for g in sorted(groups))])

    def toggled(group_id: str) -> set[str]:
        return expanded ^ {group_id}

    return render(
        request,
        "dags/grid.html",
        {
            "all_groups": all_groups,
            "visible": visible,
            "expand_query": expand_query,
            "toggled": toggled,
            "selected_run": q.get("run_id"),
            "cells": _cell_renderer(dag_id, data.runs, q.get("run_id")),
            "dag": dag,
            "model": model,
            "tab": "grid",
            "grid": data,
            "num_runs": num_runs,
            "run_state": run_state,
            "run_type": run_type,
            "run_states": RUN_STATES,
            "run_types": RUN_TYPES,
            "expanded": expanded,
            "live": any(r.state in ("queued", "running") for r in data.runs),
        },
    )


def _cell_renderer(dag_id: str, runs: list[Any], selected: str | None) -> Any:
    """The `<td>`s of one grid row, built in Python: a grid has up to 100 x every task cells,
    and one template expression per cell part costs more than the rest of the page."""
    urls = [f"/dags/{_quote(dag_id)}/runs/{_quote(r.run_id)}/tasks/" for r in runs]
    opens = ['<td class="selected">' if r.run_id == selected else "<td>" for r in runs]

    def summary(cell: Any) -> str:
        return "".join(f", {s or 'none'}: {n}" for s, n in cell.states.items())

    def cells(row: Any, toggle: str | None) -> Markup:
        parts = []
        task_q = _quote(row.id)
        for run, url, td in zip(runs, urls, opens, strict=True):
            cell = row.cells.get(run.run_id)
            if cell is None:
                parts.append(td + "</td>")
                continue
            state = escape(cell.state or "none")
            if row.kind == "group":
                parts.append(
                    f'{td}<a class="cell state-{state}" href="?{escape(toggle or "")}" '
                    f'title="{state}{escape(summary(cell))}"></a></td>'
                )
            elif row.kind == "mapped":
                parts.append(
                    f'{td}<a class="cell mapped state-{state}" data-state="{state}" '
                    f'href="{url}{task_q}" title="{state}{escape(summary(cell))}">'
                    f"{cell.total}</a></td>"
                )
            else:
                parts.append(
                    f'{td}<a class="cell state-{state}" data-state="{state}" '
                    f'href="{url}{task_q}" title="{state}, try {cell.try_number}"></a></td>'
                )
        # Every interpolated text is escaped (`escape`) or percent-quoted (`_quote`).
        return Markup("".join(parts))  # noqa: S704

    return cells


def _all_open(row: Any, parents: dict[str, str | None], expanded: set[str]) -> bool:
    """Whether every group around `row` is expanded."""
    parent = row.parent
    while parent is not None:
        if parent not in expanded:
            return False
        parent = parents.get(parent)
    return True


@router.get("/dags/{dag_id}/graph", dependencies=[READ_DAG])
@db_handler
def graph(dag_id: str, request: Request, session: DbSession) -> Response:
    model, dag = _dag(dag_id, session)
    run_id = request.query_params.get("run_id") or None
    states: dict[str, str | None] = {}
    if run_id:
        states = run_task_states(dag_id, run_id, session=session)
    data = graph_data(dag)
    data["states"] = states
    runs = dag_runs_page(RunFilter(dag_id=dag_id), limit=25, session=session).rows
    return render(
        request,
        "dags/graph.html",
        {
            "dag": dag,
            "model": model,
            "tab": "graph",
            "graph_json": json.dumps(data, default=str),
            "runs": runs,
            "run_id": run_id,
        },
    )


@router.get("/dags/{dag_id}/code", dependencies=[READ_DAG, READ_CODE])
@db_handler
def code(dag_id: str, request: Request, session: DbSession) -> Response:
    model, dag = _dag(dag_id, session)
    try:
        source = dag_service.get_dag_source(model.fileloc, session=session)
    except NotFound:
        source = None
    return render(
        request,
        "dags/code.html",
        {"dag": dag, "model": model, "tab": "code", "source": source},
    )


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise PageError(400, f"{value!r} is not a date (YYYY-MM-DD or ISO 8601).") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@router.get("/dags/{dag_id}/runs", dependencies=[READ_DAG, READ_RUNS])
@db_handler
def runs(dag_id: str, request: Request, session: DbSession) -> Response:
    model, dag = _dag(dag_id, session)
    q = request.query_params
    filters = RunFilter(
        dag_id=dag_id,
        state=_choice(q.get("state"), RUN_STATES),
        run_type=_choice(q.get("run_type"), RUN_TYPES),
        run_id_contains=q.get("run_id", "").strip()[:250],
        start=_date(q.get("start")),
        end=_date(q.get("end")),
    )
    page_number = _int(q.get("page"), 1, 1, 1_000_000)
    page = dag_runs_page(
        filters, offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE, session=session
    )
    kept = [(k, v) for k, v in q.multi_items() if k != "page"]
    return render(
        request,
        "dags/runs.html",
        {
            "dag": dag,
            "model": model,
            "tab": "runs",
            "page": page,
            "filters": filters,
            "query": q,
            "run_states": RUN_STATES,
            "run_types": RUN_TYPES,
            "page_number": page_number,
            "pages": max(1, -(-page.total // PAGE_SIZE)),
            "page_query": lambda n: urlencode([*kept, ("page", str(n))]),
        },
    )


# -- trigger ------------------------------------------------------------------------------------


def param_fields(dag: Any) -> list[dict[str, Any]]:
    """Airflow's trigger form fields from the DAG's params: name, JSON-schema type, default
    (as JSON), description, and the choices of an `enum`."""
    fields = []
    for name in dag.params:
        param = dag.params.get_param(name)
        schema = param.schema or {}
        kind = schema.get("type", "")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "")
        fields.append(
            {
                "name": name,
                "type": kind or "string",
                "default": param.value if param.has_value else None,
                "required": not param.has_value,
                "description": param.description or schema.get("description") or "",
                "title": schema.get("title") or name,
                "enum": schema.get("enum"),
                "schema": schema,
            }
        )
    return fields


def _default_conf(fields: list[dict[str, Any]]) -> str:
    return json.dumps({f["name"]: f["default"] for f in fields}, indent=2, default=str)


def _trigger_page(
    request: Request,
    dag: Any,
    model: Any,
    *,
    conf_text: str,
    run_id: str = "",
    logical_date: str = "",
    note: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    fields = param_fields(dag)
    return render(
        request,
        "dags/trigger.html",
        {
            "dag": dag,
            "model": model,
            "tab": "trigger",
            "fields": fields,
            "fields_json": json.dumps(fields, default=str),
            "conf_text": conf_text,
            "run_id": run_id,
            "logical_date": logical_date,
            "note": note,
            "error": error,
        },
        status=status,
    )


@router.get("/dags/{dag_id}/trigger", dependencies=[READ_DAG, CREATE_RUN])
@db_handler
def trigger_form(dag_id: str, request: Request, session: DbSession) -> Response:
    model, dag = _dag(dag_id, session)
    return _trigger_page(request, dag, model, conf_text=_default_conf(param_fields(dag)))


@router.post("/dags/{dag_id}/trigger", dependencies=[CREATE_RUN, Depends(audit_page("trigger"))])
@db_handler
def trigger(
    dag_id: str, request: Request, form: PostedForm, principal: PagePrincipal, session: DbSession
) -> Response:
    """Trigger a run with the posted conf; anything wrong shows the form again with the
    error, everything typed kept."""
    model, dag = _dag(dag_id, session)
    conf_text = form.get("conf")
    run_id = form.get("run_id").strip()
    logical_text = form.get("logical_date").strip()
    note = form.get("note")

    def again(message: str) -> Response:
        return _trigger_page(
            request,
            dag,
            model,
            conf_text=conf_text,
            run_id=run_id,
            logical_date=logical_text,
            note=note,
            error=message,
            status=400,
        )

    try:
        conf = loads(conf_text) if conf_text.strip() else {}
    except InvalidJson as exc:
        return again(f"The configuration is not valid JSON: {exc}")
    if not isinstance(conf, dict):
        return again("The configuration must be a JSON object ({...}).")
    try:
        logical_date = _date(logical_text) if logical_text else None
    except PageError as exc:
        return again(exc.message)
    try:
        run = trigger_run(
            dag_id,
            run_id=run_id or None,
            logical_date=logical_date,
            conf=conf,
            note=note or None,
            triggered_by="ui",
            session=session,
        )
    except (BadRequest, ServiceError) as exc:
        if isinstance(exc, NotFound):
            raise
        return again(str(exc))
    query = urlencode({"run_id": run.run_id})
    return redirect_with_flash(
        f"/dags/{_quote(dag_id)}/grid?{query}", f"Triggered {dag_id}: run {run.run_id}."
    )
