"""FastAPI dependencies: the request's DB session, who is calling, access checks and audit.

- `DbSession`: a read-only session for GET/HEAD, a write session otherwise, committed after the
  handler returns and before the response is sent; callbacks registered with `after_commit`
  run only once the commit succeeded (e.g. waking the scheduler).
- `CurrentPrincipal`: the configured `[api] auth_backends`, tried in order (§2 "401 versus
  403"); anonymous callers hold the Public role's permissions.
- `requires_access_dag(...)` / `requires_access(...)`: 403 unless the principal may.
- `audit(event)`: an EventLog row `api.<event>` owned by the acting user, stamped once access
  was granted and written with the request's own transaction; if that transaction fails or is
  rolled back, the row is written in a transaction of its own, so attempts that then fail are
  on record too (as in Airflow).
- `db_handler`: runs a sync handler where its session's work is cheapest (see `run_db`).

Where blocking database work runs: read-only work on SQLite runs inline on the event loop.
SQLite reads never wait (WAL readers take no locks a writer holds) and are pure CPU under the
GIL, so a worker thread adds hand-offs and GIL contention without any parallelism (measured:
several times the per-request cost under load). Writes on SQLite (which may wait up to
`busy_timeout` for the write lock) and all PostgreSQL work (which waits on the network with the
GIL released) run in the threadpool (awaiting PostgreSQL on the event loop instead, with
psycopg's async driver, was measured and cost more CPU per request: decision 0032). At most
pool-size requests hold a session at once; others wait for a slot rather than open and close
overflow connections under load.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.dependencies.utils import get_flat_params
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from aerovane.api.errors import ApiError
from aerovane.auth.backends.base import AuthBackend, AuthOutcome, load_backends
from aerovane.auth.permissions import Perm
from aerovane.auth.rbac import PUBLIC_ROLE, DagEntity, is_authorized_dag, role_permissions
from aerovane.auth.sign_ins import SignIns
from aerovane.config import Settings, get_settings
from aerovane.db import models
from aerovane.db.engine import begin_write_nowait, create_session, get_engine
from aerovane.db.types import utcnow
from aerovane.db.writes import READ_COMPANION, WriteLockBusy, nowait_writes
from aerovane.logs import context as log_context
from aerovane.logs.request_id import SCOPE_KEY as REQUEST_ID_KEY

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AFTER_COMMIT = "aerovane.after_commit"
_READONLY = "aerovane.readonly"
_INLINE = "aerovane.inline"
_OWNER = "aerovane.owner"
_AUDIT = "aerovane.audit"
_READ_SESSION = READ_COMPANION
#: How long `write_and_finish` waits for SQLite's write lock (as `busy_timeout` does).
_WRITE_LOCK_TIMEOUT = 30.0

P = ParamSpec("P")
T = TypeVar("T")

# -- session ------------------------------------------------------------------------------------


def runs_inline(session: Session) -> bool:
    """Whether this session's work runs on the event loop (read-only SQLite; see above)."""
    return bool(session.info.get(_INLINE))


async def run_db(session: Session, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Call `fn` inline or in the threadpool, whichever suits `session`."""
    if session.info.get(_INLINE):
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


def _finish(session: Session, exc: BaseException | None = None) -> None:
    """Commit (or, with `exc`, roll back and re-raise) and close, once per request.

    Pending audit rows go into the committing transaction; when there is none to join (a
    read-only session) or it fails, they are written in a transaction of their own."""
    owner = session.info.pop(_OWNER, None)
    if owner is None:
        return
    read = session.info.pop(_READ_SESSION, None)
    if read is not None:
        _finish(read)
    rows: list[dict[str, Any]] = session.info.pop(_AUDIT, [])
    if exc is not None:
        try:
            owner.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            _write_events(rows)
        return
    if not rows or session.info.get(_READONLY):
        owner.__exit__(None, None, None)
        _write_events(rows)
        return
    try:
        session.execute(_INSERT_EVENT, rows)
    except BaseException as failed:
        owner.__exit__(type(failed), failed, failed.__traceback__)
        _write_events(rows)
        raise
    try:
        owner.__exit__(None, None, None)
    except BaseException:
        _write_events(rows)
        raise


_session_slots: weakref.WeakKeyDictionary[Engine, anyio.Semaphore] = weakref.WeakKeyDictionary()


def _slots(engine: Engine) -> anyio.Semaphore | None:
    """At most pool-size requests hold a session at once: the rest wait for a pooled
    connection instead of opening (and closing) overflow connections under load."""
    slots = _session_slots.get(engine)
    if slots is None:
        size = getattr(engine.pool, "size", None)
        if not callable(size):
            return None
        slots = _session_slots[engine] = anyio.Semaphore(max(1, size()))
    return slots


async def get_session(request: Request) -> AsyncIterator[Session]:
    readonly = request.method in READ_METHODS
    owner = create_session(readonly=readonly)
    session = owner.__enter__()  # builds the Session object only; no I/O yet
    session.info[_OWNER] = owner
    session.info[_READONLY] = readonly
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    session.info[_INLINE] = readonly and engine.dialect.name == "sqlite"
    slots = _slots(engine)
    if slots is not None:
        await slots.acquire()
    try:
        try:
            yield session
        except BaseException as exc:
            await _finish_where_cheap(session, exc)
            raise
        await _finish_where_cheap(session)
    finally:
        if slots is not None:
            slots.release()
    for callback in session.info.get(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:
            log.exception("after-commit callback %r failed", callback)


async def _finish_where_cheap(session: Session, exc: BaseException | None = None) -> None:
    # A session that never reached the database (or was already finished by `db_handler`)
    # closes without I/O, unless it still has audit rows to write.
    read = session.info.get(_READ_SESSION)
    if (
        session.info.get(_INLINE)
        or _OWNER not in session.info
        or not (
            session.in_transaction()
            or session.info.get(_AUDIT)
            or (read is not None and not read.info.get(_INLINE))
        )
    ):
        _finish(session, exc)
    else:
        await run_in_threadpool(_finish, session, exc)


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def read_session_for(session: Session) -> Session:
    """The request's session if it is read-only, else a read-only session of its own (made
    once per request and closed with the request's session), for lookups a write request must
    not make in its write session: on SQLite they would take the write lock before the writes
    need it. On PostgreSQL, where reading takes no lock, it is the request's session: a second
    pooled connection per write request would overflow the pool under load."""
    if session.info.get(_READONLY) or session.get_bind().dialect.name != "sqlite":
        return session
    read: Session | None = session.info.get(_READ_SESSION)
    if read is None:
        owner = create_session(readonly=True)
        read = owner.__enter__()
        read.info[_OWNER] = owner
        read.info[_READONLY] = True
        read.info[_INLINE] = session.get_bind().dialect.name == "sqlite"
        session.info[_READ_SESSION] = read
    return read


# The same dependency (so the same session), for callables also called outside FastAPI.
_RequestSession = Annotated[Session | None, *DbSession.__metadata__]


def db_handler(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Run a sync handler (with a `session: DbSession` parameter) where its work is cheapest:
    inline for read-only SQLite, else in one worker thread that also ends the transaction, so
    a request costs one thread hand-off for its handler instead of two."""

    @functools.wraps(fn)
    async def handler(*args: P.args, **kwargs: P.kwargs) -> T:
        session = kwargs["session"]
        assert isinstance(session, Session)
        if session.info.get(_INLINE):
            return fn(*args, **kwargs)
        return await run_and_finish(session, functools.partial(fn, *args, **kwargs))

    return handler


async def write_and_finish(session: Session, fn: Callable[[], T]) -> T:
    """`run_and_finish` for short, bounded writes (a few statements).

    On SQLite `fn` and the commit run inline, under `db.writes.nowait_writes`: if the write
    lock is taken when `fn` first writes, it raises WriteLockBusy having written nothing; the
    event loop then waits for the lock, and `fn` is called once more in the transaction that
    holds it (so `fn` must do nothing before its first write that it cannot do twice: lookups
    only). In a worker thread the
    transaction would keep the lock, and the other processes waiting for it, while the thread
    waits for the GIL (up to the 5 ms switch interval each time the event loop has it).
    Elsewhere it is `run_and_finish`.
    """
    engine = session.get_bind()
    if engine.dialect.name != "sqlite":
        return await run_and_finish(session, fn)
    delay, deadline = 0.0002, time.monotonic() + _WRITE_LOCK_TIMEOUT
    try:
        try:
            with nowait_writes():
                result = fn()
        except WriteLockBusy:
            session.rollback()
            # Wait for the lock alone (as cheap as a poll gets), then call `fn` once more in
            # the write transaction that holds it.
            while not begin_write_nowait(session):
                if time.monotonic() > deadline:
                    raise TimeoutError("SQLite's write lock stayed busy") from None
                await anyio.sleep(delay)
                delay = min(delay * 1.5, 0.004)
            result = fn()
    except Exception as exc:
        # Rolling back is instant, but the audit row then needs a write lock of its own,
        # which may take a while: wait for it in a worker thread.
        await run_in_threadpool(_finish, session, exc)
        raise
    except BaseException as exc:  # cancelled: no more awaiting
        _finish(session, exc)
        raise
    _finish(session)
    return result


async def run_and_finish(session: Session, fn: Callable[[], T]) -> T:
    """Call `fn` (work in the request's write `session`) and end the request's transaction,
    in one worker thread."""

    def call_and_finish() -> T:
        try:
            result = fn()
        except BaseException as exc:
            _finish(session, exc)
            raise
        _finish(session)
        return result

    return await run_in_threadpool(call_and_finish)


async def run_read(fn: Callable[[], T]) -> T:
    """Run read-only work that opens its own session, placed as `run_db` would place it."""
    if get_engine().dialect.name == "sqlite":
        return fn()
    return await run_in_threadpool(fn)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the request's transaction has committed (never on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


# -- authentication -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, or anonymous (`username` None) with the Public role's rights."""

    username: str | None
    display_name: str
    permissions: frozenset[Perm]
    user_id: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.username is None


_chain_cache: tuple[Settings, tuple[AuthBackend, ...]] | None = None


def backend_chain(settings: Settings) -> tuple[AuthBackend, ...]:
    """The backends for the current settings snapshot (reloaded settings take effect)."""
    global _chain_cache
    cached = _chain_cache
    if cached is not None and cached[0] is settings:
        return cached[1]
    chain = load_backends(settings.auth_backend_names)
    _chain_cache = (settings, chain)
    return chain


def _authenticate(
    request: Request, session: Session, backends: Sequence[AuthBackend] | None = None
) -> tuple[Principal | None, dict[str, str], SignIns]:
    """(the caller or None, the last backend's challenge headers, sign-ins to record)."""
    last_headers: dict[str, str] = {}
    failed: list[int] = []
    chain = backend_chain(get_settings()) if backends is None else backends
    for backend in chain:
        result = backend.authenticate(request, session)
        if result.failed_user_id is not None:
            failed.append(result.failed_user_id)
        if result.outcome is AuthOutcome.USER and result.user is not None:
            user = result.user
            principal = Principal(user.username, user.display_name, user.permissions, user.user_id)
            signed_in = user.user_id if result.signed_in else None
            return principal, {}, SignIns(signed_in, tuple(failed))
        if result.outcome is AuthOutcome.ANONYMOUS:
            principal = Principal(None, "", role_permissions(PUBLIC_ROLE, session=session))
            return principal, {}, SignIns(failed=tuple(failed))
        last_headers = dict(result.headers)
    return None, last_headers, SignIns(failed=tuple(failed))


def authenticate(
    request: Request, session: Session, backends: Sequence[AuthBackend] | None = None
) -> Principal:
    """Try each backend in order (the configured `[api] auth_backends` unless `backends` are
    given, as the web UI does); 401 (with the last backend's headers) if none passes. Sign-ins
    found on the way are recorded in the calling thread."""
    principal, challenge, sign_ins = _authenticate(request, session, backends)
    sign_ins.record()
    if principal is None:
        raise ApiError(401, headers=challenge)
    return principal


async def get_principal(request: Request, session: DbSession) -> Principal:
    """The caller. A sign-in (`aerovane.auth.sign_ins`) is written in a worker thread and
    committed before the handler runs, so the request that signed in already shows it."""
    read = read_session_for(session)
    principal, challenge, sign_ins = await run_db(read, _authenticate, request, read)
    if sign_ins:
        await run_in_threadpool(_record_sign_ins, read, sign_ins)
    if principal is None:
        raise ApiError(401, headers=challenge)
    return principal


def _record_sign_ins(read: Session, sign_ins: SignIns) -> None:
    # The lookups' connection goes back to the pool first: the write takes one of its own, and
    # a request holds at most one at a time (`_slots`).
    read.rollback()
    sign_ins.record()


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


# -- authorization ------------------------------------------------------------------------------


def requires_access_dag(method: str, entity: DagEntity | None = None) -> Callable[..., Any]:
    """403 unless the caller may `method` the path's DAG (or DAGs, for `~`/lists) / entity."""

    async def check(request: Request, principal: CurrentPrincipal) -> None:
        dag_id = request.path_params.get("dag_id")
        if not is_authorized_dag(principal.permissions, method, entity, dag_id):
            raise ApiError(403)

    check.__name__ = f"requires_access_dag_{method.lower()}"
    return check


def requires_access(action: str, resource: str) -> Callable[..., Any]:
    """403 unless the caller holds (action, resource)."""

    async def check(principal: CurrentPrincipal) -> None:
        if (action, resource) not in principal.permissions:
            raise ApiError(403)

    return check


# -- strict query parameters --------------------------------------------------------------------

# Computed once per route and kept on the route object itself, so it lives and dies with it.
_QUERY_NAMES = "_aerovane_query_names"


async def bind_log_context(request: Request) -> None:
    """Put the DAG, run and task a route names on the request's log lines."""
    path = request.path_params
    if path:
        log_context.bind(
            dag_id=path.get("dag_id"), run_id=path.get("dag_run_id"), task_id=path.get("task_id")
        )


async def reject_unknown_query_params(request: Request) -> None:
    """400 for query parameters the operation does not define (connexion's strict validation)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: frozenset[str] | None = getattr(route, _QUERY_NAMES, None)
    if known is None:
        known = frozenset(field.alias for field in get_flat_params(dependant) if _is_query(field))
        setattr(route, _QUERY_NAMES, known)
    extra = sorted({name for name in request.query_params if name not in known})
    if extra:
        raise ApiError(400, f"Extra query parameter(s) {', '.join(extra)} not in spec")


def _is_query(field: Any) -> bool:
    location = getattr(getattr(field, "field_info", None), "in_", None)
    return getattr(location, "value", location) == "query"


# -- audit --------------------------------------------------------------------------------------

_SENSITIVE = ("password", "secret", "token", "api_key", "apikey", "private_key", "passphrase")


def _redact(value: Any, key: str = "") -> Any:
    if key and any(word in key.lower() for word in _SENSITIVE):
        return "***"
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


async def _json_body(request: Request) -> dict[str, Any] | None:
    if request.method in READ_METHODS:
        return None
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


_INSERT_EVENT = insert(models.EventLog.__table__)


def _write_events(rows: list[dict[str, Any]]) -> None:
    if rows:
        with create_session() as session:
            session.execute(_INSERT_EVENT, rows)


_ID_LEN = models.EventLog.__table__.c.run_id.type.length


def _id_column(value: str | None) -> str | None:
    """An id as its column can hold it: a refused request may name a longer one (it is kept
    whole in `extra`), and its audit row must still be written."""
    return value[:_ID_LEN] if value else None


def audit(
    event: str, *, mask: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> Callable[..., Any]:
    """Write `api.<event>` to the audit log with the acting user as owner.

    `mask` hides secrets in the body that key names alone do not reveal (a variable's value,
    a connection's JSON `extra`) before the name-based redaction. Called without a session
    (outside FastAPI's dependency injection), the row is written at once.
    """

    async def record(
        request: Request, principal: CurrentPrincipal, session: _RequestSession = None
    ) -> None:
        body = await _json_body(request)
        await record_event(
            request, principal, f"api.{event}", body=body, mask=mask, session=session
        )

    record.__name__ = f"audit_{event}"
    return record


async def record_event(
    request: Request,
    principal: Principal,
    event: str,
    *,
    body: dict[str, Any] | None = None,
    mask: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    session: Session | None = None,
) -> None:
    """Queue an audit row `event` for the request's transaction (or write it at once without
    one): path and query parameters, `body` (redacted) and the request's id, in `extra`.
    `audit` and the web UI's forms both record through here."""
    path = dict(request.path_params)
    extra: dict[str, Any] = {**path, **dict(request.query_params)}
    if body:
        extra.update(_redact(mask(body) if mask else body))
    dag_id = path.get("dag_id")
    run_id = path.get("dag_run_id") or (body or {}).get("dag_run_id")
    request_id = request.scope.get(REQUEST_ID_KEY)
    if request_id:
        # Last, so a body field of that name cannot stand in for the request's own id.
        extra["request_id"] = request_id
    row = {
        "dttm": utcnow(),
        "event": event,
        "owner": principal.username or "anonymous",
        "owner_display_name": principal.display_name or None,
        "dag_id": _id_column(dag_id if dag_id != "~" else None),
        "run_id": _id_column(run_id if isinstance(run_id, str) and run_id != "~" else None),
        "task_id": _id_column(path.get("task_id")),
        "extra": json.dumps(extra, default=str),
    }
    if session is not None and _OWNER in session.info:
        session.info.setdefault(_AUDIT, []).append(row)
    else:
        await run_in_threadpool(_write_events, [row])
