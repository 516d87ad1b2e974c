"""The API reports task groups and timezones as Airflow does: `/tasks` lists the prefixed task
ids with their edges; `/details` names the DAG's timezone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pendulum

from aerovane.authoring import DAG, EmptyOperator, TaskGroup
from tests.api.test_dags_more import store_dags


def grouped_dag() -> DAG:
    with DAG(
        "grouped",
        schedule="0 9 * * *",
        start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Amsterdam"),
        auto_register=False,
    ) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("section") as section:
            EmptyOperator(task_id="inner") >> EmptyOperator(task_id="inner_2")
        start >> section >> EmptyOperator(task_id="end")
    return dag


def test_tasks_have_prefixed_ids_and_details_the_timezone(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any, tmp_path: Path
) -> None:
    store_dags(tmp_path / "dags" / "grouped.py", grouped_dag())
    response = client.get("/dags/grouped/tasks", auth=admin)
    assert response.status_code == 200, response.text
    tasks = {t["task_id"]: t for t in response.json()["tasks"]}
    assert set(tasks) == {"start", "section.inner", "section.inner_2", "end"}
    assert tasks["start"]["downstream_task_ids"] == ["section.inner"]
    assert tasks["section.inner_2"]["downstream_task_ids"] == ["end"]
    one = client.get("/dags/grouped/tasks/section.inner", auth=admin)
    assert one.status_code == 200, one.text
    assert one.json()["task_id"] == "section.inner"
    details = client.get("/dags/grouped/details", auth=admin).json()
    assert details["timezone"] == "Europe/Amsterdam"
    assert details["start_date"] == "2023-12-31T23:00:00+00:00"
