"""`.../taskInstances/{task_id}/logs/{task_try_number}`: one attempt's log.

JSON (the default) returns a fragment and a signed continuation token holding the byte offset
to resume from (`full_content=true`, or a token that asked for it, returns everything left);
`Accept: text/plain` (preferred over JSON, as werkzeug's content negotiation decides) streams
the raw text. Where logs live and how they are read is `aerovane.services.task_logs`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from starlette.responses import Response

from aerovane.api import signing
from aerovane.api.deps import DbSession, requires_access_dag
from aerovane.api.errors import ApiError
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.task_instances import TaskLogResponse
from aerovane.auth.rbac import DagEntity
from aerovane.db.models import TaskInstance
from aerovane.db.types import storable_integers
from aerovane.services.task_logs import fetch_remote, fragment_end, log_path, read_log
from aerovane.states import FINISHED_TI_VALUES, TaskState

router = APIRouter(
    prefix="/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs",
    tags=["TaskInstance"],
)

#: Bytes returned per JSON call unless full content was asked for.
LOG_FRAGMENT_BYTES = 4 * 1024 * 1024
_STREAM_CHUNK = 256 * 1024
BAD_TOKEN = "Bad Signature. Please use only the tokens provided by the API."
_ATTEMPT_OVER = FINISHED_TI_VALUES | {TaskState.UP_FOR_RETRY.value}

_TEXT, _JSON = "text/plain", "application/json"
TI = TaskInstance.__table__.c
_MIME_SPLIT = re.compile(r"/|(?:\s*;\s*)")


def _accept_items(header: str) -> list[tuple[str, float]]:
    items: list[tuple[str, float]] = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        items.append((media.lower(), quality))
    return items


def _specificity(media: str) -> tuple[bool, ...]:
    return tuple(part != "*" for part in _MIME_SPLIT.split(media, 1))


def _matches(server: str, client: str) -> bool:
    if client in ("*", "*/*"):
        return True
    c_type, _, c_sub = client.partition("/")
    s_type, _, s_sub = server.partition("/")
    return c_type == s_type and c_sub in ("*", s_sub)


def best_match(header: str | None, offers: tuple[str, ...] = (_TEXT, _JSON)) -> str | None:
    """Werkzeug's `MIMEAccept.best_match`: highest quality, then most specific, then the
    server's order (so `*/*` picks the first offer; no header picks none)."""
    if not header:
        return None
    result: str | None = None
    best_quality = -1.0
    best_specificity: tuple[bool, ...] = (False,)
    clients = _accept_items(header)
    for server in offers:
        for client, quality in clients:
            specificity = _specificity(client)
            if quality <= 0 or quality < best_quality:
                continue
            better = quality > best_quality or specificity > best_specificity
            if better and _matches(server, client):
                best_quality, best_specificity, result = quality, specificity, server
    return result


def _decode_token(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        metadata = signing.loads(token, salt=signing.LOG_TOKEN_SALT)
    except signing.BadSignature:
        raise ApiError(400, BAD_TOKEN, title=BAD_TOKEN) from None
    offset = metadata.get("offset") if isinstance(metadata, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ApiError(400, BAD_TOKEN, title=BAD_TOKEN)
    return metadata


def _read_fragment(path: Path, offset: int, limit: int | None) -> tuple[str, int]:
    """`read_log`, but a limited read never ends inside a multi-byte UTF-8 character."""
    text, end = read_log(path, offset=offset, limit=limit)
    if limit is not None and end - offset == limit and text.endswith("\ufffd"):
        for back in (1, 2, 3):
            shorter, shorter_end = read_log(path, offset=offset, limit=limit - back)
            if not shorter.endswith("\ufffd"):
                return shorter, shorter_end
    return text, end


def _stream(path: Path, offset: int) -> Iterator[bytes]:
    while True:
        text, end = _read_fragment(path, offset, _STREAM_CHUNK)
        if end <= offset:
            return
        offset = end
        yield text.encode("utf-8")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@router.get(
    "/{task_try_number}",
    operation_id="get_log",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.TASK_LOGS))],
    response_model=None,
    responses={
        200: {
            "model": TaskLogResponse,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(400, 401, 403, 404),
    },
)
def get_log(
    request: Request,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    task_try_number: int,
    session: DbSession,
    full_content: bool = False,
    map_index: int = -1,
    token: str | None = None,
) -> Response:
    metadata = _decode_token(token)
    full_content = full_content or bool(metadata.get("download_logs"))
    ti = None
    if storable_integers(map_index):
        ti = session.execute(
            select(TI.try_number, TI.state, TI.hostname).where(
                TI.dag_id == dag_id,
                TI.run_id == dag_run_id,
                TI.task_id == task_id,
                TI.map_index == map_index,
            )
        ).first()
    if ti is None:
        raise ApiError(
            404,
            f"Task instance {task_id!r} (map index {map_index}) of DAG run {dag_run_id!r} of "
            f"DAG {dag_id!r} not found",
            title="TaskInstance not found",
        )
    if task_try_number < 1 or task_try_number > ti.try_number:
        raise ApiError(
            404,
            f"Task instance {task_id!r} has no try {task_try_number} "
            f"(tries so far: {ti.try_number})",
            title="Log not found",
        )
    path = log_path(dag_id, dag_run_id, task_id, task_try_number, map_index)
    offset = int(metadata.get("offset", 0))
    attempt_over = task_try_number < ti.try_number or ti.state in _ATTEMPT_OVER
    if not path.exists():
        remote = fetch_remote(path, ti.hostname, attempt_over=attempt_over)
        if remote is not None:
            return _remote_log(request, remote, offset, full_content, attempt_over)
    if best_match(request.headers.get("accept")) == _TEXT:
        return StreamingResponse(_stream(path, offset), media_type="text/plain; charset=utf-8")
    content, end = _read_fragment(path, offset, None if full_content else LOG_FRAGMENT_BYTES)
    next_token = signing.dumps(
        {
            "offset": end,
            "download_logs": full_content,
            "end_of_log": attempt_over and end >= _size(path),
        },
        salt=signing.LOG_TOKEN_SALT,
    )
    return JSONResponse({"content": content, "continuation_token": next_token})


def _remote_log(
    request: Request, data: bytes, offset: int, full_content: bool, attempt_over: bool
) -> Response:
    """The same answers as for a local file, from the bytes another host served."""
    if best_match(request.headers.get("accept")) == _TEXT:
        return Response(data[offset:], media_type="text/plain; charset=utf-8")
    end = fragment_end(data, offset, None if full_content else LOG_FRAGMENT_BYTES)
    chunk = data[offset:end]
    next_token = signing.dumps(
        {
            "offset": max(end, offset),
            "download_logs": full_content,
            "end_of_log": attempt_over and end >= len(data),
        },
        salt=signing.LOG_TOKEN_SALT,
    )
    content = chunk.decode("utf-8", errors="replace")
    return JSONResponse({"content": content, "continuation_token": next_token})
