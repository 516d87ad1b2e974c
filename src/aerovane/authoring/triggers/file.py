"""`FileTrigger`: fire once a path (a glob) matches a file."""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import os
from collections.abc import AsyncIterator
from typing import Any

from aerovane.authoring.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["FileTrigger"]


class FileTrigger(BaseTrigger):
    """Polls `filepath` every `poke_interval` seconds; fires with the first matching file (or
    a directory that contains files)."""

    def __init__(
        self, filepath: str, recursive: bool = False, poke_interval: float = 5.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "aerovane.authoring.triggers.file.FileTrigger",
            {
                "filepath": self.filepath,
                "recursive": self.recursive,
                "poke_interval": self.poke_interval,
            },
        )

    def _match(self) -> str | None:
        for path in glob.glob(self.filepath, recursive=self.recursive):
            if os.path.isfile(path):
                modified = dt.datetime.fromtimestamp(os.path.getmtime(path), dt.UTC)
                self.log.info("Found File %s last modified: %s", path, modified.isoformat())
                return path
            for _, _, files in os.walk(path):
                if files:
                    return path
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while (found := self._match()) is None:
            await asyncio.sleep(self.poke_interval)
        self.log.info("file %s found", found)
        yield TriggerEvent(True)
