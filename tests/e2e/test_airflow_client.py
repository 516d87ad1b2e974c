"""The official apache-airflow-client 2.10.0, unchanged, drives a full flow."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.embedded_sqlite

client = pytest.importorskip("airflow_client.client")


def test_full_flow_with_official_client(server: Server) -> None:
    from airflow_client.client.api import (
        connection_api,
        dag_api,
        dag_run_api,
        pool_api,
        task_instance_api,
        variable_api,
    )
    from airflow_client.client.model.clear_task_instances import ClearTaskInstances
    from airflow_client.client.model.connection import Connection
    from airflow_client.client.model.dag import DAG
    from airflow_client.client.model.dag_run import DAGRun
    from airflow_client.client.model.pool import Pool
    from airflow_client.client.model.variable import Variable

    conf = client.Configuration(host=server.api, username="admin", password=server.password)
    with client.ApiClient(conf) as api:
        connection_api.ConnectionApi(api).post_connection(
            Connection(connection_id="c1", conn_type="http", host="example.com", password="s3")
        )
        got = connection_api.ConnectionApi(api).get_connection("c1")
        assert got.host == "example.com" and "password" not in got.to_dict()
        variable_api.VariableApi(api).post_variables(Variable(key="v1", value="hello"))
        assert variable_api.VariableApi(api).get_variable("v1").value == "hello"
        pool_api.PoolApi(api).post_pool(Pool(name="p1", slots=3))
        assert pool_api.PoolApi(api).get_pool("p1").slots == 3

        dags = dag_api.DAGApi(api).get_dags()
        assert any(d.dag_id == "composer_sample_trigger_response_dag" for d in dags.dags)
        runs = dag_run_api.DAGRunApi(api)
        run = runs.post_dag_run("composer_sample_trigger_response_dag", DAGRun(conf={"a": 1}))
        assert run.state.value == "queued"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = runs.get_dag_run("composer_sample_trigger_response_dag", run.dag_run_id)
            if run.state.value in ("success", "failed"):
                break
            time.sleep(0.05)
        assert run.state.value == "success"
        tis = task_instance_api.TaskInstanceApi(api).get_task_instances(
            "composer_sample_trigger_response_dag", run.dag_run_id
        )
        assert [t.task_id for t in tis.task_instances] == ["print_gcs_info"]
        assert tis.task_instances[0].state.value == "success"
        log = task_instance_api.TaskInstanceApi(api).get_log(
            "composer_sample_trigger_response_dag", run.dag_run_id, "print_gcs_info", 1
        )
        assert "{a: 1}" in log.content

        paused = dag_api.DAGApi(api).patch_dag(
            "composer_sample_trigger_response_dag", DAG(is_paused=True), update_mask=["is_paused"]
        )
        assert paused.is_paused is True
        dag_api.DAGApi(api).patch_dag(
            "composer_sample_trigger_response_dag", DAG(is_paused=False), update_mask=["is_paused"]
        )
        cleared = dag_api.DAGApi(api).post_clear_task_instances(
            "composer_sample_trigger_response_dag",
            ClearTaskInstances(
                dry_run=False, only_failed=False, reset_dag_runs=True, dag_run_id=run.dag_run_id
            ),
        )
        assert [t.task_id for t in cleared.task_instances] == ["print_gcs_info"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ti = task_instance_api.TaskInstanceApi(api).get_task_instance(
                "composer_sample_trigger_response_dag", run.dag_run_id, "print_gcs_info"
            )
            if ti.state is not None and ti.state.value == "success" and ti.try_number == 2:
                break
            time.sleep(0.05)
        assert ti.try_number == 2 and ti.state.value == "success"
