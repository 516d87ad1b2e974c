"""The environments a control plane serves, and their JSON shape (Composer's `Environment`).

An installation runs one environment: the one `aerovane standalone` (or the API server) creates
on first start, named `projects/<[identity] project_id>/locations/local/environments/aerovane`.
What describes the running installation (web server URL, DAG folder, image version) is read
from the current settings when the resource is shown, so it is never stale; what the control
plane changes (overrides, variables, IP ranges) lives on the row. Secret values among the
overrides and variables are shown only to callers who may update the environment.

Functions take `session` keyword-only and never commit, except `ensure_default_environment`,
which owns its transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aerovane import AIRFLOW_COMPAT_VERSION, __version__
from aerovane.config import OPTION_INDEX, Settings, get_settings
from aerovane.control.live import current_environment, split_override_key
from aerovane.db import models
from aerovane.services.config_view import HIDDEN
from aerovane.services.redaction import is_sensitive_key

DEFAULT_LOCATION = "local"
DEFAULT_NAME = "aerovane"
#: `locations/-` in a list request means every location, as in Google's APIs.
ANY_LOCATION = "-"
#: The descriptions gcloud gives the two ranges that allow everyone.
ALLOW_ALL_RANGES = (
    {"value": "0.0.0.0/0", "description": "Allows access from all IPv4 addresses (default value)"},
    {"value": "::/0", "description": "Allows access from all IPv6 addresses (default value)"},
)
RUNNING = "RUNNING"
#: Environment variables that carry a connection URI, password included.
CONNECTION_VARIABLE_PREFIXES = ("AIRFLOW_CONN_",)


def image_version() -> str:
    return f"aerovane-{__version__}-airflow-{AIRFLOW_COMPAT_VERSION}"


def resource_name(environment: models.Environment) -> str:
    return (
        f"projects/{environment.project}/locations/{environment.location}"
        f"/environments/{environment.name}"
    )


def ensure_default_environment() -> models.Environment:
    """The installation's environment, created (RUNNING, nothing overridden) if none exists."""
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        existing = current_environment(session=session)
    if existing is not None:
        return existing
    settings = get_settings()
    try:
        with create_session() as session:
            environment = models.Environment(
                project=settings.getstr("identity", "project_id"),
                location=DEFAULT_LOCATION,
                name=DEFAULT_NAME,
                uuid=str(uuid.uuid4()),
                state=RUNNING,
                airflow_uri=airflow_uri(settings),
                dag_gcs_prefix=dag_gcs_prefix(settings),
                image_version=image_version(),
                config_overrides={},
                env_variables={},
                allowed_ip_ranges=None,
                web_server_config={},
                labels={},
                config_version=1,
            )
            session.add(environment)
        return environment
    except IntegrityError:  # another process created it first
        with create_session(readonly=True) as session:
            created = current_environment(session=session)
        assert created is not None
        return created


def find_environment(
    project: str, location: str, name: str, *, session: Session
) -> models.Environment | None:
    return session.scalar(
        select(models.Environment).where(
            models.Environment.project == project,
            models.Environment.location == location,
            models.Environment.name == name,
        )
    )


def list_environments(
    project: str, location: str, *, after_id: int, limit: int, session: Session
) -> list[models.Environment]:
    """Up to `limit` environments with id > `after_id`, in creation order."""
    query = select(models.Environment).where(
        models.Environment.project == project, models.Environment.id > after_id
    )
    if location != ANY_LOCATION:
        query = query.where(models.Environment.location == location)
    return list(session.scalars(query.order_by(models.Environment.id).limit(limit)))


def has_environments(*, session: Session) -> bool:
    return session.scalar(select(models.Environment.id).limit(1)) is not None


# -- the JSON shape --------------------------------------------------------------------------------


def timestamp(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as Google's JSON spells Timestamps."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def airflow_uri(settings: Settings) -> str:
    return settings.base_url


def dag_gcs_prefix(settings: Settings) -> str:
    return settings.dags_folder.expanduser().resolve().as_uri()


def allowed_ip_ranges(environment: models.Environment, settings: Settings) -> list[dict[str, str]]:
    """The stored ranges; with none stored, what is in force (everyone: gcloud's defaults)."""
    if environment.allowed_ip_ranges is not None:
        return [
            {"value": item["value"], "description": item.get("description", "")}
            for item in environment.allowed_ip_ranges
        ]
    configured = settings.get("proxy", "allowed_ip_ranges")
    assert isinstance(configured, tuple)
    if set(configured) == {item["value"] for item in ALLOW_ALL_RANGES}:
        return [dict(item) for item in ALLOW_ALL_RANGES]
    return [{"value": value, "description": "From the configuration"} for value in configured]


def is_sensitive_override(name: str) -> bool:
    """Whether an `airflowConfigOverrides` key ("section-key") names a secret: an option the
    schema marks sensitive, or one whose key Airflow's secrets masker would hide."""
    section, key = split_override_key(name)
    option = OPTION_INDEX.get((section, key))
    return (option is not None and option.sensitive) or is_sensitive_key(key)


def is_sensitive_env_variable(name: str) -> bool:
    """Whether an environment variable may hold a secret: a sensitive name, or a connection
    URI (`AIRFLOW_CONN_*`). Config variables (`AIRFLOW__S__K`) are refused as variables."""
    return is_sensitive_key(name) or name.upper().startswith(CONNECTION_VARIABLE_PREFIXES)


def _masked(values: dict[str, Any] | None, sensitive: Callable[[str], bool]) -> dict[str, Any]:
    return {name: HIDDEN if sensitive(name) else value for name, value in (values or {}).items()}


def environment_to_dict(
    environment: models.Environment,
    settings: Settings | None = None,
    *,
    show_secrets: bool = False,
) -> dict[str, Any]:
    """The Environment resource. Values of sensitive overrides and environment variables are
    `< hidden >` unless `show_secrets` (callers who may update the environment: they can set
    them anyway, and `gcloud ... update` round-trips the map)."""
    settings = settings or get_settings()
    overrides = dict(environment.config_overrides or {})
    variables = dict(environment.env_variables or {})
    if not show_secrets:
        overrides = _masked(overrides, is_sensitive_override)
        variables = _masked(variables, is_sensitive_env_variable)
    body: dict[str, Any] = {
        "name": resource_name(environment),
        "config": {
            "dagGcsPrefix": dag_gcs_prefix(settings),
            "softwareConfig": {
                "imageVersion": image_version(),
                "airflowConfigOverrides": overrides,
                "envVariables": variables,
            },
            "airflowUri": airflow_uri(settings),
            "webServerNetworkAccessControl": {
                "allowedIpRanges": allowed_ip_ranges(environment, settings)
            },
            "webServerConfig": dict(environment.web_server_config or {}),
        },
        "uuid": environment.uuid,
        "state": environment.state,
        "createTime": timestamp(environment.create_time),
        "updateTime": timestamp(environment.update_time),
    }
    if environment.labels:
        body["labels"] = dict(environment.labels)
    return body
