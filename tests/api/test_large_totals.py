"""`total_entries` of large lists is kept a few seconds per worker (decision 0023); small
lists and last pages are always exact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aerovane.api import pagination
from tests.api.conftest import add_dag, add_run

D1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    totals = pagination.LargeTotals(min_rows=4, seconds=10)
    totals.clock = fake
    monkeypatch.setattr(pagination, "large_totals", totals)
    yield fake


def _runs(dag_id: str, first: int, last: int) -> None:
    for i in range(first, last):
        add_run(dag_id, f"r{i}", logical_date=D1 + dt.timedelta(days=i))


def _total(client: httpx.Client, auth: Any, dag_id: str, **params: int) -> int:
    response = client.get(f"/dags/{dag_id}/dagRuns", params=params, auth=auth)
    assert response.status_code == 200, response.text
    return response.json()["total_entries"]


def test_large_total_is_kept_until_it_expires(
    client: httpx.Client, admin: httpx.BasicAuth, clock: FakeClock
) -> None:
    add_dag("big")
    _runs("big", 0, 5)
    assert _total(client, admin, "big", limit=2) == 5
    _runs("big", 5, 6)
    assert _total(client, admin, "big", limit=2) == 5  # kept
    assert _total(client, admin, "big", limit=2, offset=5) == 6  # a last page is exact
    clock.now += 11
    assert _total(client, admin, "big", limit=2) == 6


def test_small_totals_and_other_filters_are_exact(
    client: httpx.Client, admin: httpx.BasicAuth, clock: FakeClock
) -> None:
    add_dag("small")
    add_dag("big")
    _runs("small", 0, 3)
    _runs("big", 0, 5)
    assert _total(client, admin, "small", limit=2) == 3  # below min_rows: never kept
    assert _total(client, admin, "big", limit=2) == 5
    _runs("small", 3, 4)
    assert _total(client, admin, "small", limit=2) == 4
    # Another filter is another list: its own count.
    assert _total(client, admin, "~", limit=2) == 9


def test_kept_total_below_what_the_page_shows_is_recounted(
    client: httpx.Client, admin: httpx.BasicAuth, clock: FakeClock
) -> None:
    add_dag("big")
    _runs("big", 0, 5)
    assert _total(client, admin, "big", limit=2) == 5
    _runs("big", 5, 9)
    # Rows 5 and 6 exist on this full page, so a total of 5 cannot stand.
    assert _total(client, admin, "big", limit=2, offset=5) == 9
