"""`/pools`: slot usage from task instance states, unlimited pools, create/update/delete with
Airflow's rules (default_pool, update masks, required fields), paging, audit, and who may call
what."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.pools import PoolCollectionResponse, PoolResponse
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_dag, add_run, count_queries, update_ti
from tests.api.test_errors import assert_problem
from tests.conftest import PG_URL

D1 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ZERO = {
    "occupied_slots": 0,
    "running_slots": 0,
    "queued_slots": 0,
    "scheduled_slots": 0,
    "deferred_slots": 0,
}


def _create(client: httpx.Client, auth: Any, **fields: Any) -> httpx.Response:
    return client.post("/pools", json={"name": "small", "slots": 4, **fields}, auth=auth)


# -- get, list -------------------------------------------------------------------------------------


def test_default_pool_exists(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.get("/pools/default_pool", auth=admin)
    assert response.status_code == 200
    assert response.json() == {
        "name": "default_pool",
        "slots": 128,
        "open_slots": 128,
        **ZERO,
        "description": "Default pool",
        "include_deferred": False,
    }


@pytest.fixture
def busy(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    """Pool `small` (4 slots): running 2 slots, queued 1, scheduled 1, deferred 3, done 5."""
    assert _create(client, admin).status_code == 200
    add_dag("etl", task_ids=("a", "b", "c", "d", "e"))
    add_run("etl", "r1", logical_date=D1)
    for task_id, state, slots in (
        ("a", "running", 2),
        ("b", "queued", 1),
        ("c", "scheduled", 1),
        ("d", "deferred", 3),
        ("e", "success", 5),
    ):
        update_ti("etl", "r1", task_id, pool="small", state=state, pool_slots=slots)


def test_slot_usage(client: httpx.Client, admin: httpx.BasicAuth, busy: None) -> None:
    body = client.get("/pools/small", auth=admin).json()
    PoolResponse.model_validate(body)
    assert body == {
        "name": "small",
        "slots": 4,
        "occupied_slots": 3,
        "running_slots": 2,
        "queued_slots": 1,
        "scheduled_slots": 1,
        "open_slots": 1,
        "deferred_slots": 3,
        "description": None,
        "include_deferred": False,
    }
    body = client.patch(
        "/pools/small",
        params={"update_mask": "include_deferred"},
        json={"include_deferred": True},
        auth=admin,
    ).json()
    assert (body["occupied_slots"], body["open_slots"]) == (6, -2)
    default = client.get("/pools/default_pool", auth=admin).json()
    assert default["open_slots"] == 128 and default["occupied_slots"] == 0


def test_unlimited_pool(client: httpx.Client, admin: httpx.BasicAuth, busy: None) -> None:
    body = client.patch(
        "/pools/small", params={"update_mask": "slots"}, json={"slots": -1}, auth=admin
    ).json()
    assert (body["slots"], body["occupied_slots"], body["open_slots"]) == (-1, 3, -1)


def test_list(client: httpx.Client, admin: httpx.BasicAuth, busy: None) -> None:
    response = client.get("/pools", auth=admin)
    body = PoolCollectionResponse.model_validate(response.json())
    assert body.total_entries == 2
    assert [(p.name, p.running_slots) for p in body.pools] == [("default_pool", 0), ("small", 2)]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("name", ["a", "b", "default_pool"]),
        ("-name", ["default_pool", "b", "a"]),
        ("slots", ["b", "a", "default_pool"]),
        ("-id", ["a", "b", "default_pool"]),
    ],
)
def test_list_order_by(
    client: httpx.Client, admin: httpx.BasicAuth, order_by: str, expected: list[str]
) -> None:
    assert _create(client, admin, name="b", slots=1).status_code == 200
    assert _create(client, admin, name="a", slots=2).status_code == 200
    response = client.get("/pools", params={"order_by": order_by}, auth=admin)
    assert [p["name"] for p in response.json()["pools"]] == expected


def test_list_paging_and_errors(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    for name in ("a", "b"):
        assert _create(client, admin, name=name).status_code == 200
    response = client.get("/pools", params={"limit": 1, "offset": 1}, auth=admin)
    assert [p["name"] for p in response.json()["pools"]] == ["a"]
    assert response.json()["total_entries"] == 3
    assert_problem(client.get("/pools", params={"order_by": "open_slots"}, auth=admin), 400)
    assert_problem(client.get("/pools", params={"limit": -1}, auth=admin), 400)


def test_list_query_count(client: httpx.Client, admin: httpx.BasicAuth, busy: None) -> None:
    with count_queries() as few:
        client.get("/pools", params={"limit": 2}, auth=admin)
    for n in range(10):
        assert _create(client, admin, name=f"p{n}").status_code == 200
    with count_queries() as many:
        response = client.get("/pools", params={"limit": 5}, auth=admin)
    assert len(response.json()["pools"]) == 5
    assert len(many) <= len(few) + 1  # + COUNT, as the page is full


def test_get_missing(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/pools/nope", auth=admin),
        404,
        title="Not Found",
        detail="Pool with name:'nope' not found",
    )


# -- create ----------------------------------------------------------------------------------------


def test_create(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = _create(client, admin, description="for tests", include_deferred=True)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "small",
        "slots": 4,
        "open_slots": 4,
        **ZERO,
        "description": "for tests",
        "include_deferred": True,
    }
    assert client.get("/pools/small", auth=admin).json() == response.json()


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"name": "x"}, "Missing required property(ies): ['slots']"),
        ({"description": "x"}, "Missing required property(ies): ['name', 'slots']"),
        ({"name": "x", "slots": 1, "occupied_slots": 0}, "'occupied_slots'"),
        ({"name": "x", "slots": "many"}, "'slots'"),
        ({"name": "x", "slots": -2}, "-1 (unlimited)"),
        ({"name": None, "slots": 1}, "may not be null"),
        ({"name": "x", "slots": None}, "may not be null"),
        ({"name": "", "slots": 1}, "1 to 256 characters"),
        ({"name": "x" * 257, "slots": 1}, "1 to 256 characters"),
    ],
)
def test_create_rejects_bad_bodies(
    client: httpx.Client, admin: httpx.BasicAuth, payload: dict[str, Any], fragment: str
) -> None:
    body = assert_problem(client.post("/pools", json=payload, auth=admin), 400)
    assert fragment in body["detail"]


def test_create_duplicate_is_409(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin).status_code == 200
    assert_problem(_create(client, admin), 409, detail="Pool: small already exists")
    assert_problem(_create(client, admin, name="default_pool"), 409)


# -- update ----------------------------------------------------------------------------------------


def test_patch_without_mask_needs_name_and_slots(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    assert _create(client, admin, description="d").status_code == 200
    assert_problem(
        client.patch("/pools/small", json={"slots": 9}, auth=admin),
        400,
        detail="Missing required property(ies): ['name']",
    )
    response = client.patch("/pools/small", json={"name": "big", "slots": 9}, auth=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["slots"]) == ("big", 9)
    assert response.json()["description"] == "d"
    assert_problem(client.get("/pools/small", auth=admin), 404)


def test_patch_with_mask(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin).status_code == 200
    response = client.patch(
        "/pools/small",
        params={"update_mask": "slots,description"},
        json={"name": "ignored", "slots": 7, "description": "new"},
        auth=admin,
    )
    body = response.json()
    assert (body["name"], body["slots"], body["description"]) == ("small", 7, "new")


@pytest.mark.parametrize(
    ("pool", "params", "payload", "status", "detail"),
    [
        (
            "small",
            {"update_mask": "colour"},
            {"slots": 1},
            400,
            "Invalid field: colour in update mask",
        ),
        ("small", {"update_mask": "slots"}, {"name": "x"}, 400, None),
        ("small", {"update_mask": "open_slots"}, {"slots": 1}, 400, None),
        (
            "small",
            {},
            {"name": "default_pool", "slots": 1},
            409,
            "Pool: default_pool already exists",
        ),
        ("small", {}, {"name": "x", "slots": -5}, 400, None),
        ("nope", {}, {"name": "nope", "slots": 1}, 404, "Pool with name:'nope' not found"),
        (
            "default_pool",
            {},
            {"name": "renamed", "slots": 1},
            400,
            "Default Pool's name can't be modified",
        ),
        (
            "default_pool",
            {"update_mask": "name"},
            {"name": "renamed"},
            400,
            "Default Pool's name can't be modified",
        ),
        (
            "default_pool",
            {"update_mask": "description"},
            {"name": "renamed", "description": "x"},
            400,
            "Default Pool's name can't be modified",
        ),
    ],
)
def test_patch_refusals(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    pool: str,
    params: dict[str, str],
    payload: dict[str, Any],
    status: int,
    detail: str | None,
) -> None:
    assert _create(client, admin).status_code == 200
    body = assert_problem(
        client.patch(f"/pools/{pool}", params=params, json=payload, auth=admin), status
    )
    if detail is not None:
        assert body["detail"] == detail
    assert client.get("/pools/small", auth=admin).json()["slots"] == 4


def test_default_pool_can_be_resized(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.patch(
        "/pools/default_pool",
        params={"update_mask": "slots,include_deferred"},
        json={"name": "whatever", "slots": 3, "include_deferred": True},
        auth=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["slots"], body["include_deferred"]) == ("default_pool", 3, True)
    response = client.patch(
        "/pools/default_pool", json={"name": "default_pool", "slots": 5}, auth=admin
    )
    assert response.json()["slots"] == 5


# -- delete ----------------------------------------------------------------------------------------


def test_delete(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin).status_code == 200
    response = client.delete("/pools/small", auth=admin)
    assert response.status_code == 204 and response.content == b""
    assert_problem(client.delete("/pools/small", auth=admin), 404)
    assert_problem(
        client.delete("/pools/default_pool", auth=admin),
        400,
        detail="Default Pool can't be deleted",
    )


def test_mutations_are_audited(client: httpx.Client, accounts: Any) -> None:
    op = accounts["Op"].auth
    assert _create(client, op).status_code == 200
    client.patch("/pools/small", params={"update_mask": "slots"}, json={"slots": 1}, auth=op)
    client.delete("/pools/small", auth=op)
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog).order_by(models.EventLog.id)))
    assert [(r.event, r.owner) for r in rows] == [
        ("api.post_pool", "op"),
        ("api.patch_pool", "op"),
        ("api.delete_pool", "op"),
    ]


# -- who may call what -----------------------------------------------------------------------------


def _call(client: httpx.Client, operation: str, auth: tuple[str, str]) -> httpx.Response:
    if operation == "get_pools":
        return client.get("/pools", auth=auth)
    if operation == "get_pool":
        return client.get("/pools/fixed", auth=auth)
    if operation == "post_pool":
        return client.post("/pools", json={"name": f"p_{auth[0]}", "slots": 1}, auth=auth)
    if operation == "patch_pool":
        return client.patch("/pools/fixed", json={"name": "fixed", "slots": 2}, auth=auth)
    if operation == "delete_pool":
        return client.delete("/pools/fixed", auth=auth)
    raise AssertionError(operation)


ALL = {"Admin", "Op", "User", "Viewer"}
MATRIX = {
    "get_pools": (200, ALL),
    "get_pool": (200, ALL),
    "post_pool": (200, {"Admin", "Op"}),
    "patch_pool": (200, {"Admin", "Op"}),
    "delete_pool": (204, {"Admin", "Op"}),
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("operation", sorted(MATRIX))
def test_default_roles(
    client: httpx.Client, accounts: Any, admin: httpx.BasicAuth, operation: str, role: str
) -> None:
    assert _create(client, admin, name="fixed").status_code == 200
    response = _call(client, operation, accounts[role].auth)
    status, allowed = MATRIX[operation]
    expected = status if role in allowed else 403
    assert response.status_code == expected, (operation, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/pools"), 401)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, accounts: Any, busy: None) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.pool_api import PoolApi
    from airflow_client.client.model.pool import Pool

    conf = client.Configuration(host=f"{base_url}/api/v1", username="op", password="Op-pw")
    with client.ApiClient(conf) as api:
        pools = PoolApi(api)
        assert pools.post_pool(Pool(name="unlimited", slots=-1)).open_slots == -1
        small = pools.get_pool("small")
        assert (small.running_slots, small.open_slots) == (2, 1)
        assert [p.name for p in pools.get_pools().pools] == ["default_pool", "small", "unlimited"]
        assert pools.patch_pool("small", Pool(name="small", slots=9)).open_slots == 6
        pools.delete_pool("unlimited")
        assert pools.get_pools().total_entries == 2


def test_values_the_database_refuses_are_400(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    too_big = client.post("/pools", json={"name": "big", "slots": 2**31}, auth=admin)
    assert_problem(too_big, 400)
    assert_problem(client.get("/pools", params={"offset": 2**64}, auth=admin), 400)
    # PostgreSQL text cannot hold NUL characters; SQLite stores them.
    response = client.post("/pools", json={"name": "a\u0000b", "slots": 1}, auth=admin)
    if PG_URL:
        assert_problem(response, 400)
    else:
        assert response.status_code == 200
