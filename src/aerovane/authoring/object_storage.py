"""`airflow.io.path.ObjectStoragePath` for local storage: plain paths and `file://` URIs.

A `pathlib.Path` that also takes `file://` URIs and Airflow's `conn_id` argument, with the
object-storage helpers DAG files call (`copy`, `move`, `size`, `key`, `protocol`, `serialize`).
Remote stores (s3, gcs, ...) need their fsspec implementation and an Airflow provider's
connection, which Aerovane does not have. As in Airflow, whose filesystem is only attached
when first used, a remote path can still be made, joined and shown (a DAG file that builds one
at import time loads); reading or writing through it fails with an error naming the protocol.
No fsspec is needed for local files, so none is required.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["ObjectStoragePath"]

_LOCAL = ("", "file", "local")


def _text(value: object) -> str:
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        raise TypeError(f"ObjectStoragePath takes a path or a URI, not {value!r}")
    return text


def _remote_scheme(value: object) -> str | None:
    """The scheme of a URI naming a remote store, else None."""
    if isinstance(value, ObjectStoragePath):
        return None if value.protocol == "file" else value.protocol
    scheme = urlsplit(_text(value)).scheme.lower()
    return scheme if len(scheme) > 1 and scheme not in _LOCAL else None


def _not_available(path: object, protocol: str) -> ValueError:
    return ValueError(
        f"ObjectStoragePath {str(path)!r}: protocol {protocol!r} is not available in Aerovane "
        "(only local paths and file:// URIs are)"
    )


def _local_path(value: object) -> str:
    text = _text(value)
    parts = urlsplit(text)
    if len(parts.scheme) <= 1:  # no scheme (or a Windows drive letter)
        return text
    if parts.scheme.lower() not in _LOCAL:
        raise _not_available(text, parts.scheme)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"ObjectStoragePath {text!r}: a file:// URI must name a local path")
    return unquote(parts.path) or "/"


class ObjectStoragePath(pathlib.PosixPath):
    """A local path with Airflow's ObjectStoragePath API."""

    __version__ = 1
    sep = "/"

    def __new__(
        cls, *args: Any, conn_id: str | None = None, protocol: str | None = None, **_: Any
    ) -> ObjectStoragePath:
        remote = protocol.lower() if protocol and protocol.lower() not in _LOCAL else None
        if args and remote is None:
            remote = _remote_scheme(args[0])
        if remote is not None:
            return _remote_path(remote, conn_id, args)
        return super().__new__(cls, *(_local_path(a) for a in args))

    @property
    def protocol(self) -> str:
        return "file"

    @property
    def conn_id(self) -> str | None:
        return None

    @property
    def storage_options(self) -> dict[str, Any]:
        return {}

    @property
    def container(self) -> str:
        return ""

    @property
    def bucket(self) -> str:
        return ""

    @property
    def key(self) -> str:
        return str(self).lstrip("/")

    @property
    def namespace(self) -> str:
        return "file"

    @property
    def path(self) -> str:  # type: ignore[override]
        return str(self)

    def samestore(self, other: Any) -> bool:
        return isinstance(other, ObjectStoragePath)

    def size(self) -> int:
        """Size in bytes of the file at this path."""
        return self.stat().st_size

    def ukey(self) -> str:
        info = self.stat()
        return f"{info.st_size}-{info.st_mtime_ns}"

    def copy(self, dst: str | os.PathLike[str], recursive: bool = False, **_: Any) -> None:
        """Copy this file (or, with `recursive`, directory) to `dst`; into it if it is a dir."""
        target = dst if isinstance(dst, ObjectStoragePath) else ObjectStoragePath(dst)
        if self.is_dir():
            if not recursive:
                raise IsADirectoryError(f"{self} is a directory; pass recursive=True")
            if target.is_file():
                raise ValueError("Cannot copy directory to a file.")
            shutil.copytree(self, target, dirs_exist_ok=True)
            return
        if not self.exists():
            raise FileNotFoundError(f"{self} does not exist")
        if target.is_dir() or str(dst).endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            target = target / self.name
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self, target)

    def move(self, path: str | os.PathLike[str], recursive: bool = False, **_: Any) -> None:
        target = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(path)
        if self.is_dir() and not recursive:
            raise IsADirectoryError(f"{self} is a directory; pass recursive=True")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self, target)

    def rm(self, recursive: bool = False) -> None:
        if self.is_dir():
            if not recursive:
                raise IsADirectoryError(f"{self} is a directory; pass recursive=True")
            shutil.rmtree(self)
        else:
            self.unlink()

    def serialize(self) -> dict[str, Any]:
        return {
            "path": self.as_uri() if self.is_absolute() else str(self),
            "conn_id": None,
            "kwargs": {},
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any], version: int) -> ObjectStoragePath:
        if version > cls.__version__:
            raise ValueError(
                f"Cannot deserialize version {version} with version {cls.__version__}."
            )
        return cls(data["path"], conn_id=data.get("conn_id"))


class _RemoteStoragePath(ObjectStoragePath):
    """A path in a remote store, kept as `/bucket/key` under a subclass that carries the
    protocol and connection id (so that joins and parents keep them); any I/O is refused."""

    _store_protocol: str = ""
    _store_conn_id: str | None = None

    def __new__(cls, *args: Any, **_: Any) -> ObjectStoragePath:
        return pathlib.PosixPath.__new__(cls, *args)

    @property
    def protocol(self) -> str:
        return self._store_protocol

    @property
    def conn_id(self) -> str | None:
        return self._store_conn_id

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"conn_id": self._store_conn_id} if self._store_conn_id else {}

    @property
    def bucket(self) -> str:
        return self.parts[1] if len(self.parts) > 1 else ""

    @property
    def container(self) -> str:
        return self.bucket

    @property
    def key(self) -> str:
        return "/".join(self.parts[2:])

    @property
    def namespace(self) -> str:
        return f"{self.protocol}://{self.bucket}" if self.bucket else self.protocol

    @property
    def path(self) -> str:  # type: ignore[override]
        return "/".join(self.parts[1:])

    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"ObjectStoragePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return self.samestore(other) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash((self.protocol, self.conn_id, str(self)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_remote_path, (self.protocol, self.conn_id, (str(self),)))

    def samestore(self, other: Any) -> bool:
        return (
            isinstance(other, ObjectStoragePath)
            and other.protocol == self.protocol
            and other.conn_id == self.conn_id
        )

    def as_uri(self) -> str:
        return str(self)

    def resolve(self, strict: bool = False) -> ObjectStoragePath:  # type: ignore[override]
        return self

    def absolute(self) -> ObjectStoragePath:  # type: ignore[override]
        return self

    def serialize(self) -> dict[str, Any]:
        return {"path": str(self), "conn_id": self.conn_id, "kwargs": {}}

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise _not_available(self, self.protocol)

    stat = lstat = open = iterdir = glob = rglob = _refuse  # type: ignore[assignment]
    mkdir = touch = unlink = rmdir = rename = replace = chmod = _refuse  # type: ignore[assignment]
    readlink = symlink_to = hardlink_to = owner = group = _refuse  # type: ignore[assignment]
    # pathlib answers these False on a ValueError from stat; a remote path must not look absent.
    exists = is_dir = is_file = is_symlink = is_mount = samefile = _refuse  # type: ignore[assignment]


_REMOTE_CLASSES: dict[tuple[str, str | None], type[_RemoteStoragePath]] = {}


def _remote_path(protocol: str, conn_id: str | None, args: tuple[Any, ...]) -> ObjectStoragePath:
    """`protocol://[conn_id@]bucket/key` (then more parts joined to it) as a remote path."""
    first, rest = (args[0], args[1:]) if args else ("", ())
    if isinstance(first, _RemoteStoragePath):
        location = first.path
        conn_id = conn_id or first.conn_id
    else:
        parts = urlsplit(_text(first))
        userinfo, _, host = parts.netloc.rpartition("@") if parts.scheme else ("", "", "")
        location = host + parts.path if parts.scheme else parts.path
        conn_id = conn_id or userinfo or None
    key = (protocol, conn_id)
    cls = _REMOTE_CLASSES.get(key)
    if cls is None:
        cls = type(
            "ObjectStoragePath",
            (_RemoteStoragePath,),
            {"_store_protocol": protocol, "_store_conn_id": conn_id, "__slots__": ()},
        )
        _REMOTE_CLASSES[key] = cls
    return cls("/" + location.lstrip("/"), *(_text(a).lstrip("/") for a in rest))
