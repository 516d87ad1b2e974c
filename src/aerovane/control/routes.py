"""The control plane's HTTP routes: Cloud Composer's v1 and v1beta1 `environments` and
`operations` resources, served by the API app at `/v1/...` and `/v1beta1/...`.

Handlers authenticate and authorize through `access.requires(...)` dependencies and map domain
errors to Google's JSON errors; the work is in `environments`, `updates`, `operations` and
`commands`. The router's lifespan creates the installation's environment and starts this
process's `ConfigWatcher`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from aerovane.config import ConfigError
from aerovane.control import audit, commands, environments, live, updates
from aerovane.control.access import (
    EXECUTE,
    GET,
    GET_OPERATION,
    LIST,
    UPDATE,
    Caller,
    denied,
    project_id_of,
    requires,
)
from aerovane.control.errors import (
    GoogleError,
    GoogleErrorRoute,
    failed_precondition,
    invalid_argument,
    not_found,
)
from aerovane.control.operations import operation_to_dict, record_operation
from aerovane.db import models
from aerovane.db.engine import create_session

log = logging.getLogger(__name__)

API_VERSIONS = ("v1", "v1beta1")
ENVIRONMENT_PATH = "/projects/{project}/locations/{location}/environments/{environment}"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
STOP_WAIT = 5.0


# -- request bodies --------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ExecuteAirflowCommandBody(_Body):
    command: str = Field(min_length=1, max_length=100)
    subcommand: str = Field(default="", max_length=100)
    parameters: list[str] = Field(default_factory=list)


class PollAirflowCommandBody(_Body):
    execution_id: str = Field(min_length=1, max_length=36)
    pod: str = ""
    pod_namespace: str = ""
    next_line_number: int = 1


class StopAirflowCommandBody(_Body):
    execution_id: str = Field(min_length=1, max_length=36)
    pod: str = ""
    pod_namespace: str = ""
    force: bool = False


# -- helpers ---------------------------------------------------------------------------------------


def _environment_name(request: Request) -> str:
    p = request.path_params
    return f"projects/{p['project']}/locations/{p['location']}/environments/{p['environment']}"


def _parent(request: Request) -> str:
    p = request.path_params
    return f"projects/{p['project']}/locations/{p['location']}"


def _operation_name(request: Request) -> str:
    return f"{_parent(request)}/operations/{request.path_params['operation']}"


def _api_version(request: Request) -> str:
    version = request.url.path.split("/", 2)[1]
    return version if version in API_VERSIONS else "v1"


def _ensure_exists() -> None:
    """Create the installation's environment if this database has none yet.

    Start-up creates it; this covers a server started before the database was ready (and the
    tests' servers, which run without a lifespan). It runs before the request's own session:
    creating it from inside one would wait on that session's lock (SQLite) or snapshot.
    """
    with create_session(readonly=True) as session:
        if environments.has_environments(session=session):
            return
    environments.ensure_default_environment()


def _load(request: Request, session: Any, *, for_update: bool = False) -> models.Environment:
    p = request.path_params
    query = select(models.Environment).where(
        models.Environment.project == project_id_of(p["project"]),
        models.Environment.location == p["location"],
        models.Environment.name == p["environment"],
    )
    environment = session.scalar(query.with_for_update() if for_update else query)
    if environment is None:
        raise not_found(f"Environment '{_environment_name(request)}' not found.")
    return environment


def _page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_argument("Invalid pageToken") from None


# -- routes ----------------------------------------------------------------------------------------

routes = APIRouter(route_class=GoogleErrorRoute, tags=["Environments"])


@routes.get(
    "/projects/{project}/locations/{location}/environments",
    operation_id="list_environments",
)
def list_environments(
    request: Request,
    caller: Annotated[Caller, Depends(requires(LIST, _parent))],
    page_size: Annotated[int, Query(alias="pageSize")] = 0,
    page_token: Annotated[str | None, Query(alias="pageToken")] = None,
) -> JSONResponse:
    if page_size < 0:
        raise invalid_argument("pageSize must not be negative")
    limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    after = _page_token(page_token)
    _ensure_exists()
    project = project_id_of(request.path_params["project"])
    with create_session(readonly=True) as session:
        rows = environments.list_environments(
            project,
            request.path_params["location"],
            after_id=after,
            limit=limit + 1,
            session=session,
        )
        body: dict[str, Any] = {
            "environments": [
                environments.environment_to_dict(row, show_secrets=UPDATE in caller.permissions)
                for row in rows[:limit]
            ]
        }
    if len(rows) > limit:
        token = str(rows[limit - 1].id).encode()
        body["nextPageToken"] = base64.urlsafe_b64encode(token).decode()
    return JSONResponse(body)


@routes.get(ENVIRONMENT_PATH, operation_id="get_environment")
def get_environment(
    request: Request, caller: Annotated[Caller, Depends(requires(GET, _environment_name))]
) -> JSONResponse:
    _ensure_exists()
    with create_session(readonly=True) as session:
        return JSONResponse(
            environments.environment_to_dict(
                _load(request, session), show_secrets=UPDATE in caller.permissions
            )
        )


@routes.patch(ENVIRONMENT_PATH, operation_id="patch_environment")
def update_environment(
    request: Request,
    caller: Annotated[Caller, Depends(requires(UPDATE, _environment_name))],
    body: Annotated[Any, Body()] = None,
    update_mask: Annotated[str | None, Query(alias="updateMask")] = None,
) -> JSONResponse:
    _ensure_exists()
    with create_session() as session:
        environment = _load(request, session, for_update=True)
        if environment.state != environments.RUNNING:
            raise failed_precondition(
                f"Cannot update environment in state {environment.state}. Must be RUNNING."
            )
        change = updates.plan_update(environment, update_mask, body)
        updates.apply_change(environment, change)
        operation = record_operation(
            environment,
            "UPDATE",
            request={"updateMask": update_mask, "requestedBy": caller.member},
            session=session,
        )
        audit.record(
            audit.UPDATE,
            caller.member,
            {"name": environments.resource_name(environment), "updateMask": update_mask},
            session=session,
        )
    # In force here at once; every other process's watcher follows within its poll interval.
    try:
        live.refresh()
    except ConfigError as exc:
        log.error("The stored change could not be applied in this process: %s", exc)
    log.info(
        "%s updated %s (%s)", caller.member, environments.resource_name(environment), change.field
    )
    return JSONResponse(
        operation_to_dict(
            operation, environment, api_version=_api_version(request), show_secrets=True
        )
    )


@routes.get(
    "/projects/{project}/locations/{location}/operations/{operation}",
    operation_id="get_operation",
    tags=["Operations"],
)
def get_operation(
    request: Request, caller: Annotated[Caller, Depends(requires(GET_OPERATION, _operation_name))]
) -> JSONResponse:
    project = project_id_of(request.path_params["project"])
    with create_session(readonly=True) as session:
        found = session.execute(
            select(models.EnvironmentOperation, models.Environment)
            .join(models.Environment)
            .where(
                models.EnvironmentOperation.id == request.path_params["operation"],
                models.Environment.project == project,
                models.Environment.location == request.path_params["location"],
            )
        ).first()
        if found is None:
            raise not_found(f"Operation '{_operation_name(request)}' not found.")
        operation, environment = found
        return JSONResponse(
            operation_to_dict(
                operation,
                environment,
                api_version=_api_version(request),
                show_secrets=UPDATE in caller.permissions,
            )
        )


def _running_environment(request: Request) -> models.Environment:
    _ensure_exists()
    with create_session(readonly=True) as session:
        environment = _load(request, session)
    if environment.state != environments.RUNNING:
        raise failed_precondition(
            f"Cannot execute subcommand for environment in state {environment.state}. "
            "Must be RUNNING."
        )
    return environment


@routes.post(f"{ENVIRONMENT_PATH}:executeAirflowCommand", operation_id="execute_airflow_command")
def execute_airflow_command(
    request: Request,
    body: ExecuteAirflowCommandBody,
    caller: Annotated[Caller, Depends(requires(EXECUTE, _environment_name))],
) -> JSONResponse:
    environment = _running_environment(request)
    invocation = commands.normalize(body.command, body.subcommand, body.parameters)
    if commands.prints_a_secret(invocation) and UPDATE not in caller.permissions:
        raise denied(UPDATE, _environment_name(request))
    row, error = commands.execute(environment, invocation, requested_by=caller.member)
    with create_session() as session:
        audit.record(
            audit.EXECUTE,
            caller.member,
            {
                "name": environments.resource_name(environment),
                "executionId": row.id,
                "command": row.command,
                "subcommand": row.subcommand,
                "parameters": row.parameters,
            },
            session=session,
        )
    log.info(
        "%s runs `%s` (%s) in %s",
        caller.member,
        invocation.display,
        row.id,
        environments.resource_name(environment),
    )
    return JSONResponse(
        {
            "executionId": row.id,
            "pod": row.hostname,
            "podNamespace": commands.POD_NAMESPACE,
            "error": error,
        }
    )


@routes.post(f"{ENVIRONMENT_PATH}:pollAirflowCommand", operation_id="poll_airflow_command")
def poll_airflow_command(
    request: Request,
    body: PollAirflowCommandBody,
    caller: Annotated[Caller, Depends(requires(EXECUTE, _environment_name))],
) -> JSONResponse:
    _ensure_exists()
    with create_session(readonly=True) as session:
        environment = _load(request, session)
        command = commands.find_command(environment, body.execution_id, session=session)
        if command is None:
            raise not_found(f"Execution '{body.execution_id}' not found.")
        if not commands.process_lost(command):
            return JSONResponse(commands.poll(command, body.next_line_number, session=session))
    commands.record_lost(command.id)
    with create_session(readonly=True) as session:
        command = commands.find_command(environment, body.execution_id, session=session)
        assert command is not None
        return JSONResponse(commands.poll(command, body.next_line_number, session=session))


@routes.post(f"{ENVIRONMENT_PATH}:stopAirflowCommand", operation_id="stop_airflow_command")
def stop_airflow_command(
    request: Request,
    body: StopAirflowCommandBody,
    caller: Annotated[Caller, Depends(requires(EXECUTE, _environment_name))],
) -> JSONResponse:
    _ensure_exists()
    with create_session(readonly=True) as session:
        environment = _load(request, session)
        command = commands.find_command(environment, body.execution_id, session=session)
    if command is None:
        raise not_found(f"Execution '{body.execution_id}' not found.")
    output = commands.stop(command, force=body.force)
    with create_session() as session:
        audit.record(
            audit.STOP,
            caller.member,
            {"executionId": command.id, "force": body.force, "output": output},
            session=session,
        )
    log.info("%s stopped command %s (force=%s)", caller.member, command.id, body.force)
    done = commands.wait_finished(command.id, STOP_WAIT)
    return JSONResponse({"isDone": done, "output": output})


#: Composer's methods this control plane does not offer (creating, deleting, snapshots, ...).
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@routes.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
def unsupported(path: str, request: Request) -> JSONResponse:
    """Google's JSON error for everything else under the API's prefix."""
    if path.startswith("projects/"):
        raise GoogleError(
            501, f"{request.method} {request.url.path} is not implemented by this control plane."
        )
    raise not_found(f"{request.url.path} was not found.")


# -- the router the API app includes ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    try:
        await run_in_threadpool(environments.ensure_default_environment)
    except Exception:
        log.warning("Could not create the default environment at start-up", exc_info=True)
    live.start_watcher()
    try:
        yield
    finally:
        live.stop_watcher()


router = APIRouter(lifespan=lifespan)
for _version in API_VERSIONS:
    # v1beta1 is the same API; documenting it twice would only repeat every operation.
    router.include_router(routes, prefix=f"/{_version}", include_in_schema=_version == "v1")
