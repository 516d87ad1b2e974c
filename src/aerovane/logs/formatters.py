"""Formatters for component log lines: text, or one JSON object per line; both masked.

The JSON formatter is the stdlib's `logging.Formatter` plus `json.dumps` rather than
python-json-logger: a dozen lines with no dependency, and its output must pass the secrets
masker anyway (decision 0027). The masker replaces known secrets in the message and exception
text; the `SecretsMasker` filter on the handler has already redacted arguments by key name.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from aerovane.authoring.secrets_masker import get_masker
from aerovane.logs.context import FIELDS

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: `[logging] json_fields` names with a meaning of their own; any other name is read from the
#: log record as Airflow's JSONFormatter does (`filename`, `lineno`, `process`, `asctime`, ...).
_DERIVED = {
    "timestamp": lambda f, r: datetime.fromtimestamp(r.created, UTC).isoformat(
        timespec="milliseconds"
    ),
    "level": lambda f, r: r.levelname,
    "logger": lambda f, r: r.name,
    "message": lambda f, r: r.message,
}


class MaskedTextFormatter(logging.Formatter):
    """The classic text line, with known secrets replaced by `***`."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt or TEXT_FORMAT, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        return get_masker().redact_text(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `json_fields`, then request id, dag_id, run_id and task_id
    where known, then `exception` (the masked traceback) and `stack`."""

    def __init__(self, json_fields: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__()
        self.json_fields = tuple(json_fields) or ("timestamp", "level", "logger", "message")

    def usesTime(self) -> bool:
        return "asctime" in self.json_fields

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line: dict[str, Any] = {}
        for name in self.json_fields:
            derive = _DERIVED.get(name)
            line[name] = derive(self, record) if derive else getattr(record, name, None)
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # Every string in the line, the message and traceback included, through the masker.
        # ASCII only: a lone surrogate in a message cannot make the stream refuse the line.
        return json.dumps(get_masker().redact(line), default=str)
