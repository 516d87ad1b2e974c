"""`Resolvable`: a value that only exists once a task runs (an upstream's XCom, a DAG param).

Templated operator fields may hold such placeholders; rendering replaces each with
`resolve(context)`. A separate module keeps `templating` free of imports of the things it
resolves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

__all__ = ["Resolvable"]


class Resolvable(ABC):
    """A run-time placeholder; `resolve` turns it into the concrete value for one task run."""

    __slots__ = ()

    @abstractmethod
    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value this placeholder stands for in the task run described by `context`."""
