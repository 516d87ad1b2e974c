"""PATCH environments: Google's update-mask semantics, the Operation, refusals that change
nothing, and changes that take effect live in the running server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.control.conftest import ENV, PROJECT, Control, add_user, environment_row
from tests.control.test_environments import assert_google_error

OVERRIDES = "config.softwareConfig.airflowConfigOverrides"
ENV_VARIABLES = "config.softwareConfig.envVariables"
NETWORK = "config.webServerNetworkAccessControl"


def overrides_body(values: dict[str, str]) -> dict[str, Any]:
    return {"config": {"softwareConfig": {"airflowConfigOverrides": values}}}


def set_overrides(control: Control, values: dict[str, str]) -> dict[str, Any]:
    mask = ",".join(f"{OVERRIDES}.{key}" for key in sorted(values))
    response = control.patch(mask, overrides_body(values))
    assert response.status_code == 200, response.text
    return response.json()


def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Whether `condition` became true before `timeout` (a generous bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_patch_returns_a_finished_operation(control: Control) -> None:
    before = control.describe()
    operation = set_overrides(control, {"core-dags_are_paused_at_creation": "False"})
    assert operation["name"].startswith(f"projects/{PROJECT}/locations/local/operations/")
    assert operation["done"] is True
    assert "error" not in operation
    metadata = operation["metadata"]
    assert metadata["@type"].endswith("v1.OperationMetadata")
    assert metadata["state"] == "SUCCEEDED"
    assert metadata["operationType"] == "UPDATE"
    assert metadata["resource"] == ENV
    assert metadata["resourceUuid"] == before["uuid"]
    assert metadata["createTime"] and metadata["endTime"]
    assert operation["response"]["@type"].endswith("v1.Environment")
    fetched = control.get(operation["name"])
    assert fetched.status_code == 200
    assert fetched.json()["metadata"] == metadata
    beta = control.http.get(f"/v1beta1/{operation['name']}").json()
    assert beta["metadata"]["@type"].endswith("v1beta1.OperationMetadata")
    after = control.describe()
    assert after["config"]["softwareConfig"]["airflowConfigOverrides"] == {
        "core-dags_are_paused_at_creation": "False"
    }
    assert after["updateTime"] > before["updateTime"]
    assert environment_row().config_version == 2
    assert_audited("composer.environments.update", ENV)


def assert_audited(event: str, name: str) -> None:
    import json

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = session.query(models.EventLog).filter(models.EventLog.event == event).all()
    assert len(rows) == 1
    assert rows[0].owner.startswith("serviceAccount:composer-admin@")
    assert json.loads(rows[0].extra)["name"] == name


def test_override_keys_set_and_removed_by_the_mask(control: Control) -> None:
    from aerovane.config import get_settings

    set_overrides(control, {"api-maximum_page_limit": "50", "core-parallelism": "7"})
    assert get_settings().getint("api", "maximum_page_limit") == 50
    # In the mask but not in the body: removed. Not in the mask: untouched.
    response = control.patch(
        f"{OVERRIDES}.api-maximum_page_limit,{OVERRIDES}.api-fallback_page_limit",
        overrides_body({"api-fallback_page_limit": "20", "core-parallelism": "99"}),
    )
    assert response.status_code == 200, response.text
    assert control.describe()["config"]["softwareConfig"]["airflowConfigOverrides"] == {
        "api-fallback_page_limit": "20",
        "core-parallelism": "7",
    }
    settings = get_settings()
    assert settings.getint("api", "maximum_page_limit") == 100
    assert settings.getint("api", "fallback_page_limit") == 20
    # The whole map's path replaces the whole map.
    response = control.patch(OVERRIDES, overrides_body({"core-parallelism": "3"}))
    assert response.status_code == 200
    assert control.describe()["config"]["softwareConfig"]["airflowConfigOverrides"] == {
        "core-parallelism": "3"
    }
    assert control.patch(OVERRIDES, {}).status_code == 200
    assert control.describe()["config"]["softwareConfig"]["airflowConfigOverrides"] == {}
    assert get_settings().getint("core", "parallelism") == 32


def test_snake_case_mask_as_gcloud_sends_it(control: Control) -> None:
    response = control.patch(
        "config.software_config.airflow_config_overrides.core-parallelism",
        {"config": {"software_config": {"airflow_config_overrides": {"core-parallelism": "5"}}}},
    )
    assert response.status_code == 200, response.text
    overrides = control.describe()["config"]["softwareConfig"]["airflowConfigOverrides"]
    assert overrides == {"core-parallelism": "5"}


def test_env_variables_replace_all_and_reach_os_environ(control: Control) -> None:
    os.environ.pop("COMPOSER_TEST_A", None)
    body = {"config": {"softwareConfig": {"envVariables": {"COMPOSER_TEST_A": "1", "B_2": "x"}}}}
    assert control.patch(ENV_VARIABLES, body).status_code == 200
    assert control.describe()["config"]["softwareConfig"]["envVariables"] == {
        "COMPOSER_TEST_A": "1",
        "B_2": "x",
    }
    assert os.environ["COMPOSER_TEST_A"] == "1"
    body = {"config": {"softwareConfig": {"envVariables": {"B_2": "y"}}}}
    assert control.patch(ENV_VARIABLES, body).status_code == 200
    assert "COMPOSER_TEST_A" not in os.environ
    assert os.environ["B_2"] == "y"
    # No map in the request (not even a body): every variable is removed.
    cleared = control.http.patch(f"/v1/{ENV}", params={"updateMask": ENV_VARIABLES})
    assert cleared.status_code == 200
    assert control.describe()["config"]["softwareConfig"]["envVariables"] == {}
    assert "B_2" not in os.environ


def test_ip_ranges(control: Control) -> None:
    from aerovane.config import get_settings

    ranges = [
        {"value": "10.0.0.0/8", "description": "office"},
        {"value": "2001:db8::/32", "description": ""},
        {"value": "192.168.1.1"},
    ]
    body = {"config": {"webServerNetworkAccessControl": {"allowedIpRanges": ranges}}}
    assert control.patch(NETWORK, body).status_code == 200
    shown = control.describe()["config"]["webServerNetworkAccessControl"]["allowedIpRanges"]
    assert shown == [
        {"value": "10.0.0.0/8", "description": "office"},
        {"value": "2001:db8::/32", "description": ""},
        {"value": "192.168.1.1", "description": ""},
    ]
    assert get_settings().get("proxy", "allowed_ip_ranges") == (
        "10.0.0.0/8",
        "2001:db8::/32",
        "192.168.1.1/32",
    )
    # Present without ranges: no one. Absent: everyone (the defaults are shown).
    deny = control.patch(NETWORK, {"config": {"webServerNetworkAccessControl": {}}})
    assert deny.status_code == 200
    assert get_settings().get("proxy", "allowed_ip_ranges") == ()
    assert control.describe()["config"]["webServerNetworkAccessControl"] == {"allowedIpRanges": []}
    assert control.patch(NETWORK, {"config": {}}).status_code == 200
    assert get_settings().get("proxy", "allowed_ip_ranges") == ("0.0.0.0/0", "::/0")
    shown = control.describe()["config"]["webServerNetworkAccessControl"]["allowedIpRanges"]
    assert [item["value"] for item in shown] == ["0.0.0.0/0", "::/0"]


# -- refusals --------------------------------------------------------------------------------------

INVALID: list[tuple[str, str | None, Any, str]] = [
    ("no mask", None, overrides_body({"core-parallelism": "2"}), "updateMask is required"),
    ("unsupported mask", "config.nodeCount", {"config": {"nodeCount": 3}}, "Unsupported"),
    ("labels", "labels", {"labels": {"a": "b"}}, "Unsupported update mask"),
    (
        "two update types",
        f"{OVERRIDES}.core-parallelism,{ENV_VARIABLES}",
        overrides_body({"core-parallelism": "2"}),
        "Only one update type",
    ),
    (
        "unknown section",
        f"{OVERRIDES}.nosuch-key",
        overrides_body({"nosuch-key": "1"}),
        "[nosuch] key is not a known option",
    ),
    (
        "unknown key",
        f"{OVERRIDES}.core-nosuch",
        overrides_body({"core-nosuch": "1"}),
        "[core] nosuch is not a known option",
    ),
    (
        "no section",
        f"{OVERRIDES}.parallelism",
        overrides_body({"parallelism": "1"}),
        'expected "section-key"',
    ),
    (
        "bad value",
        f"{OVERRIDES}.core-parallelism",
        overrides_body({"core-parallelism": "many"}),
        "[core] parallelism = 'many' (from override): expected an integer >= 1",
    ),
    (
        "unknown auth backend",
        f"{OVERRIDES}.api-auth_backends",
        overrides_body({"api-auth_backends": "airflow.api.auth.backend.nope"}),
        "unknown auth backend",
    ),
    (
        "not a string",
        f"{OVERRIDES}.core-parallelism",
        overrides_body({"core-parallelism": 4}),
        "must be a string",
    ),
    (
        "database",
        f"{OVERRIDES}.database-sql_alchemy_conn",
        overrides_body({"database-sql_alchemy_conn": "sqlite:////tmp/x.db"}),
        'Property "database-sql_alchemy_conn" cannot be overridden',
    ),
    *[
        (
            name,
            f"{OVERRIDES}.{name}",
            overrides_body({name: "x"}),
            f'Property "{name}" cannot be overridden',
        )
        for name in (
            "core-fernet_key",
            "core-executor",
            "webserver-secret_key",
            "webserver-web_server_host",
            "webserver-web_server_port",
            "proxy-api_host",
            "proxy-api_port",
            "proxy-allowed_ip_ranges",
        )
    ],
    (
        "host bits set",
        NETWORK,
        {
            "config": {
                "webServerNetworkAccessControl": {"allowedIpRanges": [{"value": "1.2.3.4/24"}]}
            }
        },
        "Invalid IP range '1.2.3.4/24': 1.2.3.4/24 has host bits set",
    ),
    (
        "not an address",
        NETWORK,
        {"config": {"webServerNetworkAccessControl": {"allowedIpRanges": [{"value": "nope"}]}}},
        "Invalid IP range 'nope'",
    ),
    (
        "long description",
        NETWORK,
        {
            "config": {
                "webServerNetworkAccessControl": {
                    "allowedIpRanges": [{"value": "1.2.3.0/24", "description": "x" * 301}]
                }
            }
        },
        "at most 300 characters",
    ),
    *[
        (
            f"env {name}",
            ENV_VARIABLES,
            {"config": {"softwareConfig": {"envVariables": {name: "v"}}}},
            message,
        )
        for name, message in (
            ("AIRFLOW__CORE__PARALLELISM", "Airflow configuration belongs in"),
            ("AEROVANE__CORE__PARALLELISM", "Airflow configuration belongs in"),
            ("SQL_PASSWORD", "is reserved"),
            ("AIRFLOW_HOME", "is reserved"),
            ("AEROVANE_HOME", "is reserved"),
            ("1ABC", "must match [a-zA-Z_][a-zA-Z0-9_]*"),
            ("A-B", "must match [a-zA-Z_][a-zA-Z0-9_]*"),
        )
    ],
    ("not an object", ENV_VARIABLES, ["x"], "must be an Environment object"),
]


@pytest.mark.parametrize(
    ("mask", "body", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_updates_are_refused_and_change_nothing(
    control: Control, mask: str | None, body: Any, message: str
) -> None:
    from aerovane.config import get_settings
    from aerovane.db import models
    from aerovane.db.engine import create_session

    set_overrides(control, {"core-parallelism": "9"})
    before = control.describe()
    settings = get_settings()
    response = control.patch(mask, body)
    error = assert_google_error(response, 400, "INVALID_ARGUMENT")
    assert message in error
    assert control.describe() == before
    assert environment_row().config_version == 2
    assert get_settings() is settings
    with create_session(readonly=True) as session:
        assert session.query(models.EnvironmentOperation).count() == 1


def test_update_needs_a_running_environment(control: Control) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    control.describe()
    with create_session() as session:
        session.query(models.Environment).update({"state": "UPDATING"})
    response = set_overrides_raw(control, {"core-parallelism": "2"})
    message = assert_google_error(response, 412, "FAILED_PRECONDITION")
    assert message == "Cannot update environment in state UPDATING. Must be RUNNING."


def set_overrides_raw(control: Control, values: dict[str, str]) -> httpx.Response:
    mask = ",".join(f"{OVERRIDES}.{key}" for key in sorted(values))
    return control.patch(mask, overrides_body(values))


# -- live effect -----------------------------------------------------------------------------------


def test_deny_all_takes_effect_in_the_running_server(
    control: Control, server_url: str, watcher: Any
) -> None:
    user = add_user("reader", ["Admin"], password="reader-pw")
    api = httpx.Client(base_url=f"{server_url}/api/v1", auth=user.auth, timeout=10)
    assert api.get("/dags").status_code == 200
    set_overrides(control, {"api-auth_backends": "airflow.api.auth.backend.deny_all"})
    assert eventually(lambda: api.get("/dags").status_code == 401)
    control.patch(f"{OVERRIDES}.api-auth_backends", overrides_body({}))
    assert eventually(lambda: api.get("/dags").status_code == 200)
    api.close()


def test_experimental_api_and_registration_role_change_live(
    control: Control, server_url: str, watcher: Any
) -> None:
    from aerovane.config import get_settings

    add_user("reader", ["Admin"], password="reader-pw")
    url = f"{server_url}/api/experimental/test"
    assert httpx.get(url, auth=("reader", "reader-pw")).status_code == 404
    set_overrides(
        control,
        {
            "api-enable_experimental_api": "True",
            "api-auth_backends": "airflow.api.auth.backend.default",
            "api-composer_auth_user_registration_role": "Viewer",
        },
    )
    assert eventually(lambda: httpx.get(url).status_code == 200)
    assert get_settings().getstr("api", "composer_auth_user_registration_role") == "Viewer"


def test_a_change_made_by_another_process_is_picked_up(control: Control, watcher: Any) -> None:
    """The watcher notices a new config_version written by someone else (another API worker)."""
    from aerovane.config import get_settings
    from aerovane.db import models
    from aerovane.db.engine import create_session

    control.describe()
    with create_session() as session:
        row = session.query(models.Environment).one()
        row.config_overrides = {"core-max_active_runs_per_dag": "3"}
        row.allowed_ip_ranges = [{"value": "127.0.0.0/8", "description": "here"}]
        row.env_variables = {"FROM_ELSEWHERE": "yes"}
        row.config_version += 1
    assert eventually(lambda: get_settings().getint("core", "max_active_runs_per_dag") == 3)
    assert get_settings().get("proxy", "allowed_ip_ranges") == ("127.0.0.0/8",)
    assert os.environ["FROM_ELSEWHERE"] == "yes"


def test_watcher_reapplies_over_a_plain_reload(control: Control, watcher: Any) -> None:
    """Someone installing a fresh snapshot (e.g. start-up code) does not drop the overrides."""
    from aerovane.config import get_settings, reload_settings

    set_overrides(control, {"core-parallelism": "4"})
    reload_settings()
    assert eventually(lambda: get_settings().getint("core", "parallelism") == 4)


def test_task_processes_apply_what_their_workload_carries(control: Control, watcher: Any) -> None:
    """A task process (forked from a zygote that predates the change) applies the snapshot its
    workload carries: what the scheduler's watcher applied when it queued the task."""
    from aerovane.config import get_settings, reload_settings
    from aerovane.control import live

    body = {"config": {"softwareConfig": {"envVariables": {"TASK_VISIBLE": "1"}}}}
    assert control.patch(ENV_VARIABLES, body).status_code == 200
    set_overrides(control, {"core-default_task_retries": "2"})
    assert eventually(lambda: get_settings().getint("core", "default_task_retries") == 2)
    carried = live.snapshot()
    assert carried == {
        "overrides": [["core", "default_task_retries", "2"]],
        "env": {"TASK_VISIBLE": "1"},
    }
    live.stop_watcher()
    live.reset()
    reload_settings()
    assert "TASK_VISIBLE" not in os.environ
    assert live.snapshot() is None
    live.apply_in_task_process(carried)
    assert os.environ["TASK_VISIBLE"] == "1"
    assert get_settings().getint("core", "default_task_retries") == 2
    live.apply_in_task_process(None)  # the scheduler had nothing applied: neither has the task
    assert "TASK_VISIBLE" not in os.environ
    assert get_settings().getint("core", "default_task_retries") != 2


TASK_DAG = """
import datetime
from aerovane.authoring import DAG, BashOperator
with DAG("env_dag", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    BashOperator(task_id="show", bash_command="echo greeting=$GREETING")
"""


def test_a_real_task_sees_the_environment_variables(control: Control) -> None:
    """End to end: the variable reaches a task `dags test` runs (the run applies the environment
    to its process first, as the scheduler's workloads carry it to task processes)."""
    from aerovane.config import get_settings
    from aerovane.control import live
    from aerovane.runtime.dag_test import load_dag, run_dag_test
    from aerovane.services.task_logs import log_path

    (get_settings().dags_folder / "env_dag.py").write_text(TASK_DAG)
    body = {"config": {"softwareConfig": {"envVariables": {"GREETING": "from-the-env"}}}}
    assert control.patch(ENV_VARIABLES, body).status_code == 200
    live.reset()  # this process forgets it: the run reads it, and its tasks carry it
    assert "GREETING" not in os.environ
    result = run_dag_test(load_dag("env_dag"), echo=lambda _line: None)
    assert result.state == "success"
    log = log_path("env_dag", result.run_id, "show", 1).read_text()
    assert "greeting=from-the-env" in log
