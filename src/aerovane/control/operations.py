"""Long-running operations (`google.longrunning.Operation`) on environments.

An update is stored and in force in the process that made it as soon as its transaction
commits, and in every other process within the watchers' poll interval, so its operation is
recorded already finished. Clients still get an Operation to wait on, exactly as from Google.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from aerovane.control.environments import environment_to_dict, resource_name, timestamp
from aerovane.db import models
from aerovane.db.types import utcnow

TYPE_PREFIX = "type.googleapis.com/google.cloud.orchestration.airflow.service"
SUCCEEDED = "SUCCEEDED"


def record_operation(
    environment: models.Environment,
    operation_type: str,
    *,
    request: dict[str, Any],
    session: Session,
) -> models.EnvironmentOperation:
    """A finished, successful operation of `operation_type` on `environment`."""
    now = utcnow()
    operation = models.EnvironmentOperation(
        id=str(uuid.uuid4()),
        environment_id=environment.id,
        operation_type=operation_type,
        state=SUCCEEDED,
        done=True,
        request=request,
        create_time=now,
        end_time=now,
    )
    session.add(operation)
    return operation


def operation_name(environment: models.Environment, operation: models.EnvironmentOperation) -> str:
    return (
        f"projects/{environment.project}/locations/{environment.location}/operations/{operation.id}"
    )


def operation_to_dict(
    operation: models.EnvironmentOperation,
    environment: models.Environment,
    *,
    api_version: str = "v1",
    show_secrets: bool = False,
) -> dict[str, Any]:
    """The Operation; its `response` is the environment as `environment_to_dict` shows it."""
    body: dict[str, Any] = {
        "name": operation_name(environment, operation),
        "metadata": {
            "@type": f"{TYPE_PREFIX}.{api_version}.OperationMetadata",
            "state": operation.state,
            "operationType": operation.operation_type,
            "resource": resource_name(environment),
            "resourceUuid": environment.uuid,
            "createTime": timestamp(operation.create_time),
        },
        "done": bool(operation.done),
    }
    if operation.end_time is not None:
        body["metadata"]["endTime"] = timestamp(operation.end_time)
    if operation.error:
        body["error"] = operation.error
    elif operation.done:
        body["response"] = {
            "@type": f"{TYPE_PREFIX}.{api_version}.Environment",
            **environment_to_dict(environment, show_secrets=show_secrets),
        }
    return body
