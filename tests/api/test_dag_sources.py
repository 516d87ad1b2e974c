"""`/dagSources/{file_token}` (content negotiation, per-DAG access) and
`/parseDagFile/{file_token}` (the request reaches the DAG processor, which parses that file
first at its next scan)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api import signing
from aerovane.auth.permissions import EDIT, READ
from aerovane.authoring import DAG, EmptyOperator
from aerovane.dag_processing.manager import (
    DagProcessor,
    _InFlight,
    request_reparse,
    take_reparse_requests,
)
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_role, add_user
from tests.api.test_dags_more import store_dags
from tests.api.test_errors import assert_problem

D1 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SOURCE = '"""Two DAGs in one aerovane file."""\nfrom aerovane import DAG  # dag\n# héllo ✓\n'


def _dag(dag_id: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=D1, auto_register=False) as dag:
        EmptyOperator(task_id="only")
    return dag


@pytest.fixture
def pair(accounts: Any, tmp_path: Path) -> str:
    """The file token of a file defining DAGs `one` and `two`."""
    path = tmp_path / "dags" / "pair.py"
    store_dags(path, _dag("one"), _dag("two"), source=SOURCE)
    return signing.file_token(str(path))


def _events() -> list[str]:
    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.EventLog.event).order_by(models.EventLog.id)))


# -- GET /dagSources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("application/json", "application/json"),
        ("text/plain", "text/plain"),
        ("*/*", "text/plain"),
        ("application/json, text/plain", "text/plain"),
        ("application/json;q=0.9, text/plain;q=0.5", "application/json"),
        ("text/*", "text/plain"),
        ("application/*", "application/json"),
    ],
)
def test_source(
    client: httpx.Client, admin: httpx.BasicAuth, pair: str, accept: str, media: str
) -> None:
    response = client.get(f"/dagSources/{pair}", headers={"Accept": accept}, auth=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media
    if media == "application/json":
        assert response.json() == {"content": SOURCE}
    else:
        assert response.text == SOURCE


@pytest.mark.parametrize("accept", ["text/html", "application/xml", ""])
def test_source_not_acceptable(
    client: httpx.Client, admin: httpx.BasicAuth, pair: str, accept: str
) -> None:
    response = client.get(f"/dagSources/{pair}", headers={"Accept": accept}, auth=admin)
    assert response.status_code == 406
    assert response.text == "Not Allowed Accept Header"


def test_source_not_found(
    client: httpx.Client, admin: httpx.BasicAuth, pair: str, tmp_path: Path
) -> None:
    for token in ("garbage", pair[:-2] + "xx", signing.dumps("/etc/passwd", salt="other")):
        assert_problem(
            client.get(f"/dagSources/{token}", auth=admin),
            404,
            title="Dag source not found",
            detail=None,
        )
    # A genuine token for a file the DAG processor never stored.
    unknown = signing.file_token(str(tmp_path / "nowhere.py"))
    assert_problem(client.get(f"/dagSources/{unknown}", auth=admin), 404)


def test_source_needs_every_dag_of_the_file(client: httpx.Client, pair: str) -> None:
    add_role("OneCode", {(READ, "DAG Code"), (READ, "DAG:one")})
    add_role("PairCode", {(READ, "DAG Code"), (READ, "DAG:one"), (READ, "DAG:two")})
    add_role("NoCode", {(READ, "DAGs")})
    one = add_user("one_code", ["OneCode"]).auth
    both = add_user("pair_code", ["PairCode"]).auth
    no_code = add_user("no_code", ["NoCode"]).auth
    assert client.get(f"/dagSources/{pair}", auth=one).status_code == 403
    assert client.get(f"/dagSources/{pair}", auth=both).status_code == 200
    assert client.get(f"/dagSources/{pair}", auth=no_code).status_code == 403


def test_source_with_official_client(base_url: str, pair: str) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api import dag_api

    conf = client.Configuration(host=base_url + "/api/v1", username="admin", password="Admin-pw")
    with client.ApiClient(conf) as api:
        assert dag_api.DAGApi(api).get_dag_source(pair).content == SOURCE


# -- PUT /parseDagFile ----------------------------------------------------------------------------


def test_reparse(client: httpx.Client, admin: httpx.BasicAuth, pair: str) -> None:
    assert take_reparse_requests() == []
    response = client.put(f"/parseDagFile/{pair}", auth=admin)
    assert response.status_code == 201, response.text
    assert response.content == b""
    client.put(f"/parseDagFile/{pair}", auth=admin)
    fileloc = signing.fileloc_from_token(pair)
    # Asked twice, parsed once; the list is cleared by reading it.
    assert take_reparse_requests() == [fileloc]
    assert take_reparse_requests() == []
    assert _events() == ["api.reparse_dag_file", "api.reparse_dag_file"]


def test_reparse_not_found(
    client: httpx.Client, admin: httpx.BasicAuth, pair: str, tmp_path: Path
) -> None:
    assert_problem(
        client.put("/parseDagFile/garbage", auth=admin), 404, title="File not found", detail=None
    )
    unknown = signing.file_token(str(tmp_path / "nowhere.py"))
    assert_problem(client.put(f"/parseDagFile/{unknown}", auth=admin), 404, title="File not found")
    assert take_reparse_requests() == []


def test_reparse_needs_edit_on_every_dag(client: httpx.Client, accounts: Any, pair: str) -> None:
    add_role("EditOne", {(READ, "DAG:one"), (EDIT, "DAG:one")})
    add_role("EditPair", {(EDIT, "DAG:one"), (EDIT, "DAG:two")})
    one = add_user("edit_one", ["EditOne"]).auth
    both = add_user("edit_pair", ["EditPair"]).auth
    assert client.put(f"/parseDagFile/{pair}", auth=one).status_code == 403
    assert client.put(f"/parseDagFile/{pair}", auth=accounts["Viewer"].auth).status_code == 403
    assert take_reparse_requests() == []
    assert client.put(f"/parseDagFile/{pair}", auth=both).status_code == 201
    assert len(take_reparse_requests()) == 1


def _dag_file(folder: Path, name: str) -> str:
    path = folder / name
    path.write_text("from aerovane import DAG  # a dag\n", encoding="utf-8")
    return str(path.resolve())


def test_processor_parses_requested_files_first(db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dags_folder"
    folder.mkdir()
    first, second, third = (_dag_file(folder, f"{n}.py") for n in ("a", "b", "c"))
    processor = DagProcessor(factory=object())  # type: ignore[arg-type]
    processor._scan(folder, False)
    assert sorted(processor._pending) == [first, second, third]
    # Everything parsed just now: nothing is due.
    processor._pending.clear()
    processor._parsed_at = dict.fromkeys((first, second, third), time.monotonic())
    processor._scan(folder, False)
    assert processor._pending == []

    request_reparse(third)
    request_reparse(str(folder / "gone.py"))
    processor._scan(folder, False)
    assert processor._pending == [third]

    # A file being parsed right now is parsed again once that parse is over.
    processor._pending.clear()
    processor._inflight[second] = _InFlight("req", time.monotonic() + 60, tmp_path / "r.json")
    request_reparse(second)
    processor._scan(folder, False)
    assert processor._pending == []
    del processor._inflight[second]
    processor._scan(folder, False)
    assert processor._pending == [second]
    processor._scan(folder, False)
    assert processor._pending == [second]  # queued once


# -- authorization --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "source", "reparse"),
    [
        ("Admin", 200, 201),
        ("Op", 200, 201),
        ("User", 200, 201),
        ("Viewer", 200, 403),
        ("Public", 403, 403),
    ],
)
def test_default_roles(
    client: httpx.Client, accounts: Any, pair: str, role: str, source: int, reparse: int
) -> None:
    auth = accounts[role].auth
    assert client.get(f"/dagSources/{pair}", auth=auth).status_code == source
    assert client.put(f"/parseDagFile/{pair}", auth=auth).status_code == reparse


def test_anonymous_is_unauthenticated(client: httpx.Client, pair: str) -> None:
    assert client.get(f"/dagSources/{pair}").status_code == 401
    assert client.put(f"/parseDagFile/{pair}").status_code == 401
