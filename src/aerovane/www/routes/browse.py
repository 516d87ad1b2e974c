"""Browse: DAG runs, task instances, the audit log, datasets and their events, across DAGs.

Lists cover only the DAGs the person may read (`permitted_dag_ids`); the pages need the same
permissions as the API's list endpoints. Data from `aerovane.services.browse`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import MENU, READ
from aerovane.auth.rbac import DagEntity, permitted_dag_ids
from aerovane.services.browse import (
    RunFilter,
    TaskInstanceFilter,
    dag_runs_page,
    dataset_events_page,
    dataset_page,
    event_log_page,
    import_errors_for,
    task_instances_page,
)
from aerovane.services.event_logs import EventLogFilter
from aerovane.states import DagRunState, DagRunType, TaskState
from aerovane.www.access import requires_page_access, requires_page_dag_access
from aerovane.www.auth import PagePrincipal
from aerovane.www.errors import PageRoute
from aerovane.www.nav import add_link
from aerovane.www.paging import Paging, page_links
from aerovane.www.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RUNS_PATH = "/dagrun/list/"
TIS_PATH = "/taskinstance/list/"
AUDIT_PATH = "/log/list/"
DATASETS_PATH = "/datasets"
IMPORT_ERRORS_PATH = "/import-errors"

add_link("Browse", "DAG Runs", RUNS_PATH, (READ, "DAG Runs"), (MENU, "DAG Runs"), order=10)
add_link(
    "Browse",
    "Task Instances",
    TIS_PATH,
    (READ, "Task Instances"),
    (MENU, "Task Instances"),
    order=20,
)
add_link("Browse", "Audit Logs", AUDIT_PATH, (READ, "Audit Logs"), order=30)
add_link("Browse", "Datasets", DATASETS_PATH, (READ, "Datasets"), (MENU, "Datasets"), order=40)

TI_STATES = ["none", *(s.value for s in TaskState)]


def _choice(value: str | None, allowed: list[str]) -> str | None:
    return value if value in allowed else None


def _text(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()[:250]


@router.get(RUNS_PATH, dependencies=[Depends(requires_page_dag_access("GET", DagEntity.RUN))])
@db_handler
def dag_runs(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    filters = RunFilter(
        dag_id=_text(request, "dag_id") or None,
        state=_choice(request.query_params.get("state"), [s.value for s in DagRunState]),
        run_type=_choice(request.query_params.get("run_type"), [t.value for t in DagRunType]),
        run_id_contains=_text(request, "run_id"),
        readable=permitted_dag_ids(principal.permissions, READ),
    )
    paging = Paging.of(request)
    page = dag_runs_page(filters, offset=paging.offset, limit=paging.size, session=session)
    return render(
        request,
        "browse/dag_runs.html",
        {
            "page": page,
            "filters": filters,
            "links": page_links(request, paging, page.total),
            "run_states": [s.value for s in DagRunState],
            "run_types": [t.value for t in DagRunType],
            "show_dag": True,
        },
    )


@router.get(
    TIS_PATH, dependencies=[Depends(requires_page_dag_access("GET", DagEntity.TASK_INSTANCE))]
)
@db_handler
def task_instances(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    filters = TaskInstanceFilter(
        dag_id=_text(request, "dag_id") or None,
        run_id=_text(request, "run_id") or None,
        task_id=_text(request, "task_id") or None,
        state=_choice(request.query_params.get("state"), TI_STATES),
        pool=_text(request, "pool") or None,
        readable=permitted_dag_ids(principal.permissions, READ),
    )
    paging = Paging.of(request)
    page = task_instances_page(filters, offset=paging.offset, limit=paging.size, session=session)
    return render(
        request,
        "browse/task_instances.html",
        {
            "page": page,
            "filters": filters,
            "links": page_links(request, paging, page.total),
            "ti_states": TI_STATES,
        },
    )


@router.get(AUDIT_PATH, dependencies=[Depends(requires_page_access(READ, "Audit Logs"))])
@db_handler
def audit_log(request: Request, session: DbSession) -> Response:
    filters = EventLogFilter(
        dag_id=_text(request, "dag_id") or None,
        event=_text(request, "event") or None,
        owner=_text(request, "owner") or None,
    )
    paging = Paging.of(request)
    page = event_log_page(filters, offset=paging.offset, limit=paging.size, session=session)
    return render(
        request,
        "browse/audit_log.html",
        {"page": page, "filters": filters, "links": page_links(request, paging, page.total)},
    )


@router.get(DATASETS_PATH, dependencies=[Depends(requires_page_access(READ, "Datasets"))])
@db_handler
def datasets(request: Request, session: DbSession) -> Response:
    raw = request.query_params.get("dataset_id", "")
    dataset_id = int(raw) if raw.isdigit() and len(raw) < 12 else None
    paging = Paging.of(request)
    listed = dataset_page(_text(request, "uri"), limit=200, session=session)
    events = dataset_events_page(
        dataset_id, offset=paging.offset, limit=paging.size, session=session
    )
    return render(
        request,
        "browse/datasets.html",
        {
            "datasets": listed,
            "events": events,
            "dataset_id": dataset_id,
            "uri": _text(request, "uri"),
            "links": page_links(request, paging, events.total),
        },
    )


@router.get(IMPORT_ERRORS_PATH, dependencies=[Depends(requires_page_access(READ, "ImportError"))])
@db_handler
def import_errors(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    readable = permitted_dag_ids(principal.permissions, READ)
    errors = import_errors_for(readable, session=session)
    return render(request, "browse/import_errors.html", {"errors": errors})
