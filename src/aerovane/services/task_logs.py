"""Where task attempt logs live and how they are read back.

Layout: `{base_log_folder}/dag_id=<dag>/run_id=<run>/task_id=<task>/[map_index=<i>/]`
`attempt=<n>.log`.

Airflow accepts ids of up to 250 characters, but a path component may hold at most 255 bytes
(NAME_MAX): `run_id=` and a 250-character run id do not fit, and neither does a shorter id in
multi-byte characters. Such a component, or one whose id holds a `/`, a NUL or a lone
surrogate, becomes
`<key>=<as much of the id as fits>~<16 hex digits of its SHA-256>`: the same for the same id, so
the task writing its log and the API reading it agree, and distinct ids stay apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aerovane.config import get_settings

#: The longest file name, in bytes, that Linux's and macOS's file systems accept.
NAME_MAX = 255
_DIGEST_CHARS = 16


def log_path(dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> Path:
    base = get_settings().base_log_folder
    path = (
        base
        / _component("dag_id", dag_id)
        / _component("run_id", run_id)
        / _component("task_id", task_id)
    )
    if map_index >= 0:
        path = path / f"map_index={map_index}"
    return path / f"attempt={try_number}.log"


def _component(key: str, value: str) -> str:
    """`key=value`, or its shortened, hashed form when that is no safe file name."""
    raw = value.encode("utf-8", "surrogatepass")
    fits = len(key) + 1 + len(raw) <= NAME_MAX
    if fits and "/" not in value and "\0" not in value:
        try:
            value.encode("utf-8")  # a lone surrogate cannot be a file name
        except UnicodeEncodeError:
            pass
        else:
            return f"{key}={value}"
    digest = hashlib.sha256(raw).hexdigest()[:_DIGEST_CHARS]
    room = NAME_MAX - len(key) - 2 - _DIGEST_CHARS  # "=" and "~"
    kept = raw[:room].decode("utf-8", "ignore").replace("/", "_").replace("\0", "_")
    return f"{key}={kept}~{digest}"


def read_log(path: Path, *, offset: int = 0, limit: int | None = None) -> tuple[str, int]:
    """Text from byte `offset` (up to `limit` bytes) and the offset to continue from."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read() if limit is None else fh.read(limit)
    except FileNotFoundError:
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)


def read_attempt_log(
    path: Path,
    *,
    hostname: str | None,
    attempt_over: bool,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[str, int]:
    """`read_log` of an attempt's log: the file on this host, else the copy `fetch_remote`
    finds (a remote worker's, or the remote store's); a limited read of a copy ends on a
    character boundary."""
    if not path.exists():
        data = fetch_remote(path, hostname, attempt_over=attempt_over)
        if data is not None:
            end = fragment_end(data, offset, limit)
            return data[offset:end].decode("utf-8", errors="replace"), end
    return read_log(path, offset=offset, limit=limit)


def fragment_end(data: bytes, offset: int, limit: int | None) -> int:
    """Where a read of up to `limit` bytes of `data` from `offset` ends: never inside a
    multi-byte UTF-8 character (unless the read could hold no whole one)."""
    end = len(data) if limit is None else min(len(data), offset + limit)
    while offset < end < len(data) and (data[end] & 0xC0) == 0x80:
        end -= 1
    return max(end, offset)


def fetch_remote(path: Path, hostname: str | None, *, attempt_over: bool = True) -> bytes | None:
    """The log of an attempt that ran on another host, when `path` is not on this one.

    As Airflow's file task handler: an attempt that ended is read from the remote store of
    `[logging] remote_logging` (a shared folder or an fsspec URL, `remote_logs`) first; a running
    one (not copied yet), or one the store lacks, from the log server of the worker recorded on
    the task instance (`[logging] worker_log_server_port`), asked with a token for this file
    only (`log_tokens`). None when neither has it.
    """
    from urllib.parse import quote

    from aerovane.services import remote_logs

    settings = get_settings()
    try:
        relative = path.relative_to(settings.base_log_folder)
    except ValueError:
        return None
    store = remote_logs.configured()
    if store is not None and attempt_over:
        data = store.read(relative.as_posix())
        if data is not None:
            return data
    port = settings.getint("logging", "worker_log_server_port")
    celery = settings.getstr("core", "executor") == "CeleryExecutor"
    if not (celery and hostname and port):  # the local executor's logs are all here
        return None
    import httpx

    from aerovane.services import log_tokens

    try:
        token = log_tokens.sign(str(relative))
    except log_tokens.NoSecret:
        return None
    url = f"http://{hostname}:{port}/log/{quote(str(relative))}"
    try:
        response = httpx.get(url, headers={"Authorization": token}, timeout=10.0)
    except httpx.HTTPError:
        return None
    return response.content if response.status_code == 200 else None
