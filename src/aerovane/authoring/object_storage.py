"""`airflow.io.path.ObjectStoragePath` for local storage: plain paths and `file://` URIs.

A `pathlib.Path` that also takes `file://` URIs and Airflow's `conn_id` argument, with the
object-storage helpers DAG files call (`copy`, `move`, `size`, `key`, `protocol`, `serialize`).
Remote stores (s3, gcs, ...) need their fsspec implementation and an Airflow provider's
connection, which Aerovane does not have: they are refused with an error naming the protocol.
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


def _local_path(value: object) -> str:
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        raise TypeError(f"ObjectStoragePath takes a path or a URI, not {value!r}")
    parts = urlsplit(text)
    if len(parts.scheme) <= 1:  # no scheme (or a Windows drive letter)
        return text
    if parts.scheme.lower() not in _LOCAL:
        raise ValueError(
            f"ObjectStoragePath {text!r}: protocol {parts.scheme!r} is not available in Aerovane "
            "(only local paths and file:// URIs are)"
        )
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
        if protocol is not None and protocol.lower() not in _LOCAL:
            raise ValueError(f"ObjectStoragePath: protocol {protocol!r} is not available")
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
