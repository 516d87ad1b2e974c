"""`FileSensor`: wait for a file (or a non-empty directory, or a glob match) to exist.

The path is joined to the `path` in the extra of the `fs_conn_id` connection, as Airflow's
`FSHook` does. Airflow creates `fs_default` (path "/") with its default connections; Aerovane
does not, so a missing `fs_default` means "/" here, while any other missing connection fails.
With `deferrable=True` a first poke that finds nothing hands the wait to the triggerer
(`FileTrigger`), as Airflow 2.10 does.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from aerovane.authoring.exceptions import AerovaneException, AerovaneNotFoundException
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.triggers.file import FileTrigger
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
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.deferrable = deferrable

    def execute(self, context: Mapping[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self.defer(
                timeout=dt.timedelta(seconds=self.timeout),
                trigger=FileTrigger(
                    filepath=self.path, recursive=self.recursive, poke_interval=self.poke_interval
                ),
                method_name="execute_complete",
            )
        return None

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        if not event:
            raise AerovaneException(f"{self.task_id} task failed as {self.filepath} not found.")
        self.log.info("%s completed successfully as %s found.", self.task_id, self.filepath)

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
