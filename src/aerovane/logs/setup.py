"""`configure_logging()`: the root logger of a component process, text or JSON, masked.

Every long-running command (standalone, api-server and each of its uvicorn workers, scheduler,
dag-processor, triggerer, proxy, celery worker) configures logging here and nowhere else. The
`logging_config()` dictionary is also what uvicorn applies in each worker process it spawns.
"""

from __future__ import annotations

import logging
import logging.config
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aerovane.config import Settings

#: Libraries whose INFO lines are noise in a component's log.
QUIET_LOGGERS = ("alembic", "httpx", "httpcore")


def json_fields(settings: Settings) -> tuple[str, ...]:
    names = settings.getstr("logging", "json_fields").split(",")
    return tuple(name.strip() for name in names if name.strip())


def masker() -> logging.Filter:
    """The process's secrets masker, as a handler filter (dictConfig's factory)."""
    from aerovane.authoring.secrets_masker import get_masker

    return get_masker()


def logging_config(settings: Settings | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary for a component under `settings`."""
    if settings is None:
        from aerovane.config import get_settings

        settings = get_settings()
    if settings.getboolean("logging", "json_format"):
        formatter: dict[str, Any] = {
            "()": "aerovane.logs.formatters.JsonFormatter",
            "json_fields": list(json_fields(settings)),
        }
    else:
        formatter = {"()": "aerovane.logs.formatters.MaskedTextFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"aerovane": formatter},
        "filters": {
            "context": {"()": "aerovane.logs.context.ContextFilter"},
            "mask_secrets": {"()": "aerovane.logs.setup.masker"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "aerovane",
                "filters": ["context", "mask_secrets"],
            }
        },
        "loggers": {name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        "root": {
            "handlers": ["console"],
            "level": settings.getstr("logging", "logging_level"),
        },
    }


def configure_logging(settings: Settings | None = None) -> None:
    """Send this process's log records to stderr in the configured format, masked."""
    logging.config.dictConfig(logging_config(settings))
    # Records of loggers uvicorn configured before us go to our handler too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
