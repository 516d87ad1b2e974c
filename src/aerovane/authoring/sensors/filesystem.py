"""`FileSensor`: wait for a file (or a non-empty directory, or a glob match) to exist.

The path is joined to the `path` in the extra of the `fs_conn_id` connection, as Airflow's
`FSHook` does. Airflow creates `fs_default` (path "/") with its default connections; Aerovane
does not, so a missing `fs_default` means "/" here, while any other missing connection fails.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from aerovane.authoring.exceptions import AerovaneNotFoundException
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.variables import Connection

__all__ = ["FileSensor"]

DEFAULT_FS_CONN_ID = "fs_default"


class FileSensor(BaseSensorOperator):
    """Done when `filepath` (templated; a glob, `**` with `recursive=True`) matches a file or
    a directory that contains files."""

    template_fields: ClassVar[tuple[str, ...]] = ("filepath",)
    ui_color: ClassVar[str] = "#91818a"

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = DEFAULT_FS_CONN_ID,
        recursive: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    @property
    def path(self) -> str:
        return os.path.join(self._base_path(), self.filepath)

    def _base_path(self) -> str:
        try:
            connection = Connection.get_connection_from_secrets(self.fs_conn_id)
        except AerovaneNotFoundException:
            if self.fs_conn_id != DEFAULT_FS_CONN_ID:
                raise
            return "/"
        return str(connection.extra_dejson.get("path", ""))

    def poke(self, context: Mapping[str, Any]) -> bool:
        path = self.path
        self.log.info("Poking for file %s", path)
        for match in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(match):
                modified = dt.datetime.fromtimestamp(os.path.getmtime(match), dt.UTC)
                self.log.info("Found File %s last modified: %s", match, modified.isoformat())
                return True
            for _, _, files in os.walk(match):
                if files:
                    return True
        return False
