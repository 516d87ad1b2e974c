"""The experimental API's routes (paths relative to `/api/experimental`), one handler each.

Every handler is wrapped by `experimental_endpoint`: authentication with the first configured
backend only (its own refusal — e.g. deny_all's 403 "Forbidden", basic auth's 401 with a
challenge — is the response), no authorization, and `ExperimentalError`s answered as
`{"error": message}`. Mutations are written to the audit log as `api.experimental.<handler>`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from aerovane import AIRFLOW_COMPAT_VERSION
from aerovane.api.deps import Principal, audit, backend_chain, run_read
from aerovane.api.experimental import operations
from aerovane.api.experimental.operations import ExperimentalError
from aerovane.api.responses import JSONResponse
from aerovane.auth.backends.base import AuthOutcome
from aerovane.auth.sign_ins import SignIns
from aerovane.config import get_settings
from aerovane.db.engine import create_session
from aerovane.services import strict_json

T = TypeVar("T")
Handler = Callable[..., Awaitable[Response]]

router = APIRouter()

#: The bodies Airflow's backends answer with when they refuse a request.
_REFUSALS = {401: "Unauthorized", 403: "Forbidden"}
_TRUE = frozenset({"t", "true", "y", "yes", "1"})


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _authenticate(request: Request) -> tuple[Principal | Response, SignIns]:
    backend = backend_chain(get_settings())[0]
    with create_session(readonly=True) as session:
        result = backend.authenticate(request, session)
    if result.outcome is AuthOutcome.USER and result.user is not None:
        user = result.user
        principal = Principal(user.username, user.display_name, user.permissions, user.user_id)
        return principal, SignIns(user.user_id if result.signed_in else None)
    failed = () if result.failed_user_id is None else (result.failed_user_id,)
    if result.outcome is AuthOutcome.ANONYMOUS:
        return Principal(None, "", frozenset()), SignIns(failed=failed)
    return Response(
        _REFUSALS.get(result.status, "Unauthorized"),
        status_code=result.status,
        headers=dict(result.headers),
        media_type="text/html",
    ), SignIns(failed=failed)


def experimental_endpoint(fn: Handler) -> Handler:
    """Authenticate with the first backend, then run `fn`; its `ExperimentalError`s become
    `{"error": ...}` responses. The caller is `request.state.principal`."""

    @functools.wraps(fn)
    async def handler(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        caller, sign_ins = await run_read(functools.partial(_authenticate, request))
        if sign_ins:  # a write: never on the event loop
            await run_in_threadpool(sign_ins.record)
        if isinstance(caller, Response):
            return caller
        request.state.principal = caller
        try:
            return await fn(*args, **kwargs)
        except ExperimentalError as exc:
            return error_response(exc.status, exc.message)

    return handler


async def _read(fn: Callable[..., T], /, *args: Any) -> T:
    def work() -> T:
        with create_session(readonly=True) as session:
            return fn(*args, session=session)

    return await run_read(work)


async def _write(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    def work() -> T:
        with create_session() as session:
            return fn(*args, session=session, **kwargs)

    return await run_in_threadpool(work)


async def _audit(request: Request, event: str) -> None:
    await audit(f"experimental.{event}")(request, request.state.principal)


async def _json_body(request: Request) -> Any:
    """The body parsed as (strict) JSON whatever its content type (Flask's
    `get_json(force=True)`)."""
    raw = await request.body()
    try:
        return strict_json.loads(raw)
    except strict_json.InvalidJson as exc:
        raise ExperimentalError(400, f"Failed to decode JSON object: {exc}") from None


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return value is not None and str(value).lower() in _TRUE


# -- routes --------------------------------------------------------------------------------------


@router.post("/dags/{dag_id}/dag_runs")
@experimental_endpoint
async def trigger_dag(request: Request, dag_id: str) -> Response:
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise ExperimentalError(400, "The request body must be a JSON object")
    run_id = data.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise ExperimentalError(400, "run_id must be a string")
    conf = None
    if "conf" in data:
        conf = data["conf"]
        if not isinstance(conf, dict):
            raise ExperimentalError(
                400, "Dag Run conf must be a dictionary object, other types are not supported"
            )
    execution_date = None
    if data.get("execution_date") is not None:
        execution_date = operations.parse_execution_date(data["execution_date"])
    replace_microseconds = execution_date is None
    if "replace_microseconds" in data:
        replace_microseconds = _to_boolean(data["replace_microseconds"])
    await _audit(request, "trigger_dag")
    result = await _write(
        operations.trigger_dag,
        dag_id,
        run_id=run_id,
        conf=conf,
        execution_date=execution_date,
        replace_microseconds=replace_microseconds,
    )
    return JSONResponse(result)


@router.delete("/dags/{dag_id}")
@experimental_endpoint
async def delete_dag(request: Request, dag_id: str) -> Response:
    await _audit(request, "delete_dag")
    return JSONResponse(await _write(operations.delete_dag, dag_id))


@router.get("/dags/{dag_id}/dag_runs")
@experimental_endpoint
async def dag_runs(request: Request, dag_id: str) -> Response:
    state = request.query_params.get("state")
    try:
        runs = await _read(operations.dag_runs, dag_id, state)
    except ExperimentalError as exc:
        # Airflow answers every failure of this route with 400.
        return error_response(400, exc.message)
    return JSONResponse(runs)


@router.get("/test")
@experimental_endpoint
async def test(request: Request) -> Response:
    return JSONResponse({"status": "OK"})


@router.get("/info")
@experimental_endpoint
async def info(request: Request) -> Response:
    return JSONResponse({"version": AIRFLOW_COMPAT_VERSION})


@router.get("/dags/{dag_id}/code")
@experimental_endpoint
async def get_dag_code(request: Request, dag_id: str) -> Response:
    return PlainTextResponse(await _read(operations.dag_code, dag_id))


@router.get("/dags/{dag_id}/tasks/{task_id}")
@experimental_endpoint
async def task_info(request: Request, dag_id: str, task_id: str) -> Response:
    return JSONResponse(await _read(operations.task_info, dag_id, task_id))


@router.get("/dags/{dag_id}/paused/{paused}")
@experimental_endpoint
async def dag_paused(request: Request, dag_id: str, paused: str) -> Response:
    """A GET that pauses (for "true") or unpauses the DAG, as Airflow's does."""
    await _audit(request, "dag_paused")
    await _write(operations.set_paused, dag_id, paused)
    return JSONResponse({"response": "ok"})


@router.get("/dags/{dag_id}/paused")
@experimental_endpoint
async def get_dag_paused(request: Request, dag_id: str) -> Response:
    return JSONResponse(await _read(operations.is_paused, dag_id))


@router.get("/dags/{dag_id}/dag_runs/{execution_date}/tasks/{task_id}")
@experimental_endpoint
async def task_instance_info(
    request: Request, dag_id: str, execution_date: str, task_id: str
) -> Response:
    when = operations.parse_execution_date(execution_date)
    return JSONResponse(await _read(operations.task_instance_info, dag_id, when, task_id))


@router.get("/dags/{dag_id}/dag_runs/{execution_date}")
@experimental_endpoint
async def dag_run_status(request: Request, dag_id: str, execution_date: str) -> Response:
    when = operations.parse_execution_date(execution_date)
    return JSONResponse(await _read(operations.dag_run_state, dag_id, when))


@router.get("/latest_runs")
@experimental_endpoint
async def latest_dag_runs(request: Request) -> Response:
    return JSONResponse(await _read(operations.latest_runs))


@router.get("/pools/{name}")
@experimental_endpoint
async def get_pool(request: Request, name: str) -> Response:
    return JSONResponse(await _read(operations.get_pool, name))


@router.get("/pools")
@experimental_endpoint
async def get_pools(request: Request) -> Response:
    return JSONResponse(await _read(operations.get_pools))


@router.post("/pools")
@experimental_endpoint
async def create_pool(request: Request) -> Response:
    params = await _json_body(request)
    await _audit(request, "create_pool")
    return JSONResponse(await _write(operations.create_pool, params))


@router.delete("/pools/{name}")
@experimental_endpoint
async def delete_pool(request: Request, name: str) -> Response:
    await _audit(request, "delete_pool")
    return JSONResponse(await _write(operations.delete_pool, name))


@router.get("/lineage/{dag_id}/{execution_date}")
@experimental_endpoint
async def get_lineage(request: Request, dag_id: str, execution_date: str) -> Response:
    when = operations.parse_execution_date(execution_date)
    return JSONResponse(await _read(operations.lineage, dag_id, when))
