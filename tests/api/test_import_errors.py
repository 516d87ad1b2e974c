"""`/importErrors`: listing, ordering and paging, single errors, and Airflow's filtering for
callers who may read only some DAGs (files with no readable DAG hidden, stack traces of files
with unreadable DAGs redacted)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from aerovane.api.v1.datamodels.import_errors import (
    ImportErrorCollectionResponse,
    ImportErrorResponse,
)
from aerovane.auth.permissions import READ
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_dag, add_role, add_user
from tests.api.test_errors import assert_problem

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
REDACTED = "REDACTED - you do not have read permission on all DAGs in the file"
FILES = ("/opt/dags/etl.py", "/opt/dags/secret.py", "/opt/dags/broken.py", "/opt/dags/mixed.py")


@pytest.fixture
def errors(accounts: Any) -> list[int]:
    """One error per file in FILES (in that order, newest first); etl.py defines `etl`,
    secret.py `secret`, mixed.py `mixed_a` and `mixed_b`, broken.py nothing."""
    for dag_id in ("etl", "secret", "mixed_a", "mixed_b"):
        add_dag(dag_id, has_import_errors=True)
    with create_session() as session:
        session.execute(
            update(models.DagModel)
            .where(models.DagModel.dag_id.in_(["mixed_a", "mixed_b"]))
            .values(fileloc="/opt/dags/mixed.py")
        )
        rows = [
            models.ImportErrorModel(
                filename=name,
                stacktrace=f"Traceback: {name} is broken",
                timestamp=T0 - dt.timedelta(minutes=n),
            )
            for n, name in enumerate(FILES)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _files(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    ImportErrorCollectionResponse.model_validate(response.json())
    return [e["filename"] for e in response.json()["import_errors"]]


def test_list(client: httpx.Client, admin: httpx.BasicAuth, errors: list[int]) -> None:
    response = client.get("/importErrors", auth=admin)
    assert _files(response) == list(FILES)
    assert response.json()["total_entries"] == 4
    assert response.json()["import_errors"][0] == {
        "import_error_id": errors[0],
        "timestamp": "2024-05-01T12:00:00+00:00",
        "filename": "/opt/dags/etl.py",
        "stack_trace": "Traceback: /opt/dags/etl.py is broken",
    }


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("timestamp", [3, 2, 1, 0]),
        ("-timestamp", [0, 1, 2, 3]),
        ("filename", [2, 0, 3, 1]),
        ("-import_error_id", [3, 2, 1, 0]),
    ],
)
def test_order_by(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    errors: list[int],
    order_by: str,
    expected: list[int],
) -> None:
    response = client.get("/importErrors", params={"order_by": order_by}, auth=admin)
    assert _files(response) == [FILES[i] for i in expected]


def test_paging_and_bad_parameters(
    client: httpx.Client, admin: httpx.BasicAuth, errors: list[int]
) -> None:
    response = client.get("/importErrors", params={"limit": 1, "offset": 3}, auth=admin)
    assert _files(response) == [FILES[3]]
    assert response.json()["total_entries"] == 4
    assert_problem(client.get("/importErrors", params={"order_by": "stack_trace"}, auth=admin), 400)
    assert_problem(client.get("/importErrors", params={"offset": -1}, auth=admin), 400)


def test_get_one(client: httpx.Client, admin: httpx.BasicAuth, errors: list[int]) -> None:
    response = client.get(f"/importErrors/{errors[2]}", auth=admin)
    assert response.status_code == 200
    body = ImportErrorResponse.model_validate(response.json())
    assert (body.filename, body.stack_trace) == (FILES[2], f"Traceback: {FILES[2]} is broken")
    assert_problem(
        client.get("/importErrors/999999", auth=admin),
        404,
        title="Import error not found",
        detail="The ImportError with import_error_id: `999999` was not found",
    )
    assert_problem(client.get("/importErrors/x", auth=admin), 400)


# -- callers who may read only some DAGs -----------------------------------------------------------


@pytest.fixture
def partial(errors: list[int]) -> tuple[str, str]:
    add_role("Partial", {(READ, "ImportError"), (READ, "DAG:etl"), (READ, "DAG:mixed_a")})
    return add_user("partial", ["Partial"]).auth


def test_list_is_filtered_and_redacted(
    client: httpx.Client, partial: tuple[str, str], errors: list[int]
) -> None:
    response = client.get("/importErrors", auth=partial)
    assert _files(response) == [FILES[0], FILES[3]]
    assert response.json()["total_entries"] == 2
    traces = [e["stack_trace"] for e in response.json()["import_errors"]]
    assert traces == [f"Traceback: {FILES[0]} is broken", REDACTED]


def test_get_one_is_checked_and_redacted(
    client: httpx.Client, partial: tuple[str, str], errors: list[int]
) -> None:
    assert client.get(f"/importErrors/{errors[0]}", auth=partial).json()["stack_trace"] == (
        f"Traceback: {FILES[0]} is broken"
    )
    assert client.get(f"/importErrors/{errors[3]}", auth=partial).json()["stack_trace"] == REDACTED
    for hidden in (errors[1], errors[2]):
        assert_problem(
            client.get(f"/importErrors/{hidden}", auth=partial),
            403,
            detail="You do not have read permission on any of the DAGs in the file",
        )


def test_reader_of_all_dags_sees_everything(
    client: httpx.Client, accounts: Any, errors: list[int]
) -> None:
    response = client.get("/importErrors", auth=accounts["Viewer"].auth)
    assert _files(response) == list(FILES)
    assert REDACTED not in response.text


# -- who may call what -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("path", ["/importErrors", "/importErrors/{id}"])
def test_default_roles(
    client: httpx.Client, accounts: Any, errors: list[int], path: str, role: str
) -> None:
    response = client.get(path.format(id=errors[0]), auth=accounts[role].auth)
    expected = 403 if role == "Public" else 200
    assert response.status_code == expected, (path, role, response.text)


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/importErrors"), 401)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, errors: list[int]) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.import_error_api import ImportErrorApi

    conf = client.Configuration(host=f"{base_url}/api/v1", username="viewer", password="Viewer-pw")
    with client.ApiClient(conf) as api:
        import_errors = ImportErrorApi(api)
        listed = import_errors.get_import_errors(order_by="filename")
        assert [e.filename for e in listed.import_errors] == sorted(FILES)
        one = import_errors.get_import_error(errors[0])
        assert (one.filename, one.timestamp) == (FILES[0], "2024-05-01T12:00:00+00:00")
