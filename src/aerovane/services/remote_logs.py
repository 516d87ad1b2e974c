"""The remote store of task logs: `[logging] remote_base_log_folder`, a folder or an fsspec URL.

Owns turning that option (with `remote_log_conn_id`) into a place to write and read, the copy
the executor that ran an attempt makes when it ends (`upload_attempt_log`: a Celery worker, or
the local executor on the scheduler's host), the read-back for `task_logs` (`read`), and
the start-up check (`check`). A plain folder needs nothing more; a URL (`s3://bucket/logs`,
`gs://`, `ftp://host/logs`, `file:///mnt/logs`) needs the optional fsspec and the scheme's own
package (s3fs, gcsfs, ...), as Airflow's object-storage handlers do. It must never put the URL's
or the connection's credentials in a log line, an error or a response: messages name the store
by `shown()`, the URL with its user, password and query replaced.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aerovane.config import ConfigError, get_settings

log = logging.getLogger(__name__)

#: What each fsspec protocol calls a connection's login and password.
CREDENTIAL_NAMES: dict[str, tuple[str, str]] = {
    "ftp": ("username", "password"),
    "sftp": ("username", "password"),
    "ssh": ("username", "password"),
    "smb": ("username", "password"),
    "s3": ("key", "secret"),
    "s3a": ("key", "secret"),
    "abfs": ("account_name", "account_key"),
    "az": ("account_name", "account_key"),
}
#: Protocols whose `mv` is a rename (elsewhere, an object store's put is whole already).
RENAMING_PROTOCOLS = frozenset({"file", "local", "ftp", "sftp", "ssh", "smb"})
#: Protocols whose filesystem takes the server as `host` and `port`.
HOST_PROTOCOLS = frozenset({"ftp", "sftp", "ssh", "smb"})


def _is_url(location: str) -> bool:
    return len(urlsplit(location).scheme) > 1  # not a path, nor a Windows drive letter


def shown(location: str) -> str:
    """The location as messages may name it: no user, password or query string."""
    if not _is_url(location):
        return location
    parts = urlsplit(location)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username is not None or parts.password is not None:
        host = f"***@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "***" if parts.query else "", ""))


@dataclass(frozen=True)
class RemoteStore:
    """Where ended attempts' logs are copied, under the same relative path as locally."""

    location: str

    @property
    def is_url(self) -> bool:
        return _is_url(self.location)

    def __repr__(self) -> str:
        return f"RemoteStore({shown(self.location)!r})"

    def write(self, relative: str, data: bytes) -> None:
        """A reader sees the whole copy or none: folders and servers with a rename get a
        temporary name renamed into place; object stores' puts are whole already."""
        part = f".{uuid.uuid4().hex}.part"
        if not self.is_url:
            target = Path(self.location) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + part)
            temporary.write_bytes(data)
            temporary.replace(target)
            return
        fs, root = _filesystem(self.location)
        target = f"{root.rstrip('/')}/{relative}"
        _makedirs(fs, target.rsplit("/", 1)[0])
        if urlsplit(self.location).scheme.lower() not in RENAMING_PROTOCOLS:
            fs.pipe_file(target, data)
            return
        fs.pipe_file(target + part, data)
        if fs.exists(target):  # a copy made before (FTP's rename does not replace)
            fs.rm_file(target)
        fs.mv(target + part, target)

    def read(self, relative: str) -> bytes | None:
        """The copy's bytes; None when it is not there (or the store cannot be reached)."""
        try:
            if not self.is_url:
                return (Path(self.location) / relative).read_bytes()
            fs, root = _filesystem(self.location)
            return bytes(fs.cat_file(f"{root.rstrip('/')}/{relative}"))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - unreachable, refused credentials: not there
            log.warning("cannot read %s from %s: %s", relative, shown(self.location), _kind(exc))
            return None


def _makedirs(fs: Any, directory: str) -> None:
    """`makedirs(exist_ok=True)` that tolerates another worker creating the same folders at the
    same time (the attempts of one run end together): a level it failed to make, someone else
    made, so each failure is progress and there are at most as many as levels."""
    for _ in range(directory.count("/")):
        try:
            fs.makedirs(directory, exist_ok=True)
            return
        except Exception:  # noqa: BLE001 - e.g. FTP's 550 for a folder made meanwhile
            fs.invalidate_cache()
    fs.makedirs(directory, exist_ok=True)


def configured() -> RemoteStore | None:
    """The store of `[logging] remote_logging`, or None when remote logging is off."""
    settings = get_settings()
    location = settings.getstr("logging", "remote_base_log_folder")
    if not (settings.getboolean("logging", "remote_logging") and location):
        return None
    return RemoteStore(location)


def check() -> None:
    """At start-up: a URL whose fsspec implementation is missing is one line, not a failure at
    the end of every attempt. Nothing is contacted."""
    store = configured()
    if store is None or not store.is_url:
        return
    _filesystem_class(store.location)


def upload(local: Path, relative: str) -> bool:
    """Copy an ended attempt's log; a failure is logged (without credentials), never raised:
    the attempt's outcome does not depend on it."""
    store = configured()
    if store is None or not local.exists():
        return False
    try:
        store.write(relative, local.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any client library's error; logged, not raised
        log.warning("could not copy %s to %s: %s", relative, shown(store.location), _kind(exc))
        return False
    return True


def upload_attempt_log(path: Path) -> bool:
    """`upload` an ended attempt's log file under its path relative to the local log folder
    (so the remote store mirrors `base_log_folder`); False when remote logging is off or the
    file is not an attempt's log."""
    if configured() is None:
        return False
    try:
        relative = path.relative_to(get_settings().base_log_folder)
    except ValueError:  # outside the log folder: no attempt's log
        return False
    return upload(path, relative.as_posix())


def _kind(exc: BaseException) -> str:
    """An exception as a log line may show it: its class, and its text only for plain missing
    files (a client library's message may quote the URL it was given)."""
    if isinstance(exc, (ConfigError, FileNotFoundError, PermissionError)):
        return f"{type(exc).__name__}: {_strip(str(exc))}"
    return type(exc).__name__


def _strip(text: str) -> str:
    location = get_settings().getstr("logging", "remote_base_log_folder")
    return text.replace(location, shown(location)) if location else text


def _filesystem_class(location: str) -> type:
    scheme = urlsplit(location).scheme.lower()
    option = "[logging] remote_base_log_folder"
    try:
        import fsspec
    except ImportError:
        raise ConfigError(
            f"{option} = {shown(location)}: a URL needs fsspec (pip install fsspec)"
        ) from None
    try:
        return fsspec.get_filesystem_class(scheme)
    except ImportError as exc:  # fsspec knows the scheme; its package is missing
        raise ConfigError(f"{option} = {shown(location)}: {exc}") from None
    except ValueError:
        raise ConfigError(f"{option} = {shown(location)}: fsspec knows no {scheme!r}") from None


def _filesystem(location: str) -> tuple[Any, str]:
    """A filesystem for `location` and the root path in it. Options from the URL win over the
    connection's, which only fill in what the URL leaves out."""
    cls = _filesystem_class(location)
    options = {
        **_connection_options(urlsplit(location).scheme.lower()),
        **_url_options(cls, location),
    }
    return cls(**options), cls._strip_protocol(location)


def _url_options(cls: Any, location: str) -> dict[str, Any]:
    return {k: v for k, v in cls._get_kwargs_from_urls(location).items() if v is not None}


def _connection_options(protocol: str) -> dict[str, Any]:
    conn_id = get_settings().getstr("logging", "remote_log_conn_id")
    if not conn_id:
        return {}
    from aerovane.db.secrets import get_connection

    conn = get_connection(conn_id)
    if conn is None:
        raise ConfigError(f"[logging] remote_log_conn_id: no connection {conn_id!r}")
    options: dict[str, Any] = {}
    if conn.get("extra"):
        try:
            extra = json.loads(conn["extra"])
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise ConfigError(
                f"[logging] remote_log_conn_id: the extra of {conn_id!r} is not a JSON object"
            )
        options.update(extra)
    if protocol in CREDENTIAL_NAMES:
        login_name, password_name = CREDENTIAL_NAMES[protocol]
        if conn.get("login"):
            options[login_name] = conn["login"]
        if conn.get("password"):
            options[password_name] = conn["password"]
    if protocol in HOST_PROTOCOLS:
        if conn.get("host"):
            options["host"] = conn["host"]
        if conn.get("port"):
            options["port"] = int(conn["port"])
    return options
