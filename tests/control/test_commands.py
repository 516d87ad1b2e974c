"""The Airflow Commands API: execute allow-listed `aerovane` commands in real subprocesses, poll
their output and exit codes, stop them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import add_dag
from tests.control.conftest import USER_ROLE, Account, Control
from tests.control.test_environments import assert_google_error
from tests.control.test_updates import eventually, set_overrides

USER_ARGS = ("-u", "bob", "-e", "bob@example.com", "-f", "Bob", "-l", "-", "-r", "Op")


def test_users_create_with_a_password(control: Control) -> None:
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session

    result = control.run("users", "create", *USER_ARGS, "-p", "s3cret-pw")
    assert result["exitInfo"] == {"exitCode": 0, "error": ""}
    assert [line["content"] for line in result["lines"]] == ["User bob created with role Op"]
    assert result["lines"][0]["lineNumber"] == 1
    execution = result["execution"]
    assert set(execution) == {"executionId", "pod", "podNamespace", "error"}
    assert execution["error"] == ""
    with create_session(readonly=True) as session:
        user = find_user("bob", session=session)
        assert user is not None and [r.name for r in user.roles] == ["Op"]


@pytest.mark.parametrize(
    "flag",
    [
        ("--password", "pw-123456"),
        ("--password=pw-123456",),
        ("-ppw-123456",),
        ("--use-random-password",),
    ],
)
def test_users_create_password_flags(control: Control, flag: tuple[str, ...]) -> None:
    result = control.run("users", "create", *USER_ARGS, *flag)
    assert result["exitInfo"]["exitCode"] == 0, result


def test_users_create_without_a_password_flag_is_refused(control: Control) -> None:
    response = control.post(
        "executeAirflowCommand",
        {"command": "users", "subcommand": "create", "parameters": list(USER_ARGS)},
    )
    message = assert_google_error(response, 400, "INVALID_ARGUMENT")
    assert message == (
        'The subcommand "users create" requires one of the following command line arguments: '
        "-p, --password, --use-random-password"
    )


@pytest.mark.parametrize(
    ("command", "subcommand", "parameters", "message"),
    [
        ("tasks", "test", ["my_dag", "t1"], 'The subcommand "tasks" is not supported'),
        ("dags", "test", ["my_dag"], 'The subcommand "dags test" is not supported'),
        ("db", "reset", ["--yes"], 'The subcommand "db reset" is not supported'),
        ("standalone", "", [], 'The subcommand "standalone" is not supported'),
        ("dags", "", [], 'The subcommand "dags" needs a nested subcommand'),
        ("dags", "", ["--help"], 'The subcommand "dags" needs a nested subcommand'),
        ("dags", "", ["test", "my_dag"], 'The subcommand "dags test" is not supported'),
    ],
)
def test_commands_outside_the_allow_list_are_refused(
    control: Control, command: str, subcommand: str, parameters: list[str], message: str
) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    response = control.post(
        "executeAirflowCommand",
        {"command": command, "subcommand": subcommand, "parameters": parameters},
    )
    assert message in assert_google_error(response, 400, "INVALID_ARGUMENT")
    with create_session(readonly=True) as session:
        assert session.query(models.AirflowCommand).count() == 0


def test_invalid_request_bodies(control: Control) -> None:
    assert_google_error(control.post("executeAirflowCommand", {}), 400, "INVALID_ARGUMENT")
    assert_google_error(
        control.post("executeAirflowCommand", {"command": "dags", "parameters": "list"}),
        400,
        "INVALID_ARGUMENT",
    )
    assert_google_error(
        control.post("pollAirflowCommand", {"executionId": "nope"}), 404, "NOT_FOUND"
    )


def test_trigger_in_both_spellings(control: Control) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    add_dag("my_dag")
    nested = control.run("dags", "trigger", "my_dag", "-r", "first", "-c", '{"a": 1}')
    assert nested["exitInfo"]["exitCode"] == 0, nested
    flat = control.run("dags", "", "trigger", "my_dag", "-r", "second")
    assert flat["exitInfo"]["exitCode"] == 0, flat
    with create_session(readonly=True) as session:
        runs = {r.run_id: r.conf for r in session.query(models.DagRun).all()}
    assert runs == {"first": {"a": 1}, "second": {}} or runs == {"first": {"a": 1}, "second": None}


def test_failing_command_reports_its_exit_code(control: Control) -> None:
    result = control.run("dags", "pause", "no_such_dag")
    assert result["exitInfo"]["exitCode"] == 1
    assert any("no_such_dag" in line["content"] for line in result["lines"])


def test_version_and_commands_see_the_environment_config(control: Control) -> None:
    from aerovane import __version__

    assert [line["content"] for line in control.run("version")["lines"]] == [__version__]
    set_overrides(control, {"core-parallelism": "7"})
    result = control.run("config", "get-value", "core", "parallelism")
    assert [line["content"] for line in result["lines"]] == ["7"]


@pytest.mark.parametrize("words", [("webserver", "secret_key"), ("core", "fernet_key")])
def test_only_updaters_may_print_a_secret(
    control: Control,
    make_account: Callable[..., Account],
    control_for: Callable[..., Control],
    words: tuple[str, str],
) -> None:
    """`secret_key` forges sessions and `fernet_key` decrypts connections: a composer user
    (who may run commands but not update the environment) gets neither."""
    from aerovane.config import get_settings

    user = control_for(make_account("a-composer-user", USER_ROLE))
    for spelling in (
        {"command": "config", "subcommand": "get-value", "parameters": list(words)},
        {"command": "config", "subcommand": "", "parameters": ["get-value", *words]},
    ):
        message = assert_google_error(
            user.post("executeAirflowCommand", spelling), 403, "PERMISSION_DENIED"
        )
        assert message.startswith("Permission 'composer.environments.update' denied")
    assert [
        line["content"] for line in user.run("config", "get-value", "core", "parallelism")["lines"]
    ] == ["32"]
    secret = get_settings().getstr(*words)
    assert [line["content"] for line in control.run("config", "get-value", *words)["lines"]] == [
        secret
    ]


def test_poll_from_a_line_number(control: Control) -> None:
    result = control.run("config", "list")
    assert result["exitInfo"]["exitCode"] == 0
    lines = result["lines"]
    assert len(lines) > 20
    assert [line["lineNumber"] for line in lines] == list(range(1, len(lines) + 1))
    later = control.post("pollAirflowCommand", {**result["execution"], "nextLineNumber": 10}).json()
    assert later["output"] == lines[9:]
    assert later["outputEnd"] is True
    beyond = control.post(
        "pollAirflowCommand", {**result["execution"], "nextLineNumber": len(lines) + 1}
    ).json()
    assert beyond == {"output": [], "outputEnd": True, "exitInfo": {"exitCode": 0, "error": ""}}


def test_commands_need_a_running_environment(control: Control) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    control.describe()
    with create_session() as session:
        session.query(models.Environment).update({"state": "ERROR"})
    response = control.post("executeAirflowCommand", {"command": "version"})
    message = assert_google_error(response, 412, "FAILED_PRECONDITION")
    assert message == "Cannot execute subcommand for environment in state ERROR. Must be RUNNING."


# -- stopping --------------------------------------------------------------------------------------

SLEEPER = (
    "import signal, sys, time\n"
    "if 'ignore' in sys.argv: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('started', flush=True)\n"
    "time.sleep(300)\n"
)


@pytest.fixture
def sleeper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow a `sleep` command that runs until stopped (a real process, like a slow command)."""
    from aerovane.control import commands

    monkeypatch.setitem(commands.ALLOWED_COMMANDS, "sleep", None)
    real_argv = commands.Invocation.argv

    def argv(self: Any) -> list[str]:
        if self.command == "sleep":
            return [sys.executable, "-c", SLEEPER, *self.parameters]
        return real_argv.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(commands.Invocation, "argv", property(argv))


def _start(control: Control, *parameters: str) -> dict[str, Any]:
    response = control.post(
        "executeAirflowCommand", {"command": "sleep", "parameters": list(parameters)}
    )
    assert response.status_code == 200, response.text
    execution = response.json()

    def started() -> bool:
        body = control.post("pollAirflowCommand", {**execution, "nextLineNumber": 1}).json()
        return [line["content"] for line in body["output"]] == ["started"]

    assert eventually(started)
    polled = control.post("pollAirflowCommand", {**execution, "nextLineNumber": 2}).json()
    assert polled == {"output": [], "outputEnd": False}
    return execution


def _poll_end(control: Control, execution: dict[str, Any]) -> dict[str, Any]:
    body = control.post("pollAirflowCommand", {**execution, "nextLineNumber": 2}).json()
    assert body["outputEnd"] is True
    return body


@pytest.mark.usefixtures("sleeper")
def test_stop_a_running_command(control: Control) -> None:
    execution = _start(control)
    stopped = control.post("stopAirflowCommand", {**execution, "force": False})
    assert stopped.status_code == 200, stopped.text
    body = stopped.json()
    assert body["isDone"] is True
    assert body["output"] and "SIGTERM" in body["output"][0]
    end = _poll_end(control, execution)
    assert end["exitInfo"] == {
        "exitCode": 143,
        "error": "The command was terminated by SIGTERM",
    }
    again = control.post("stopAirflowCommand", execution).json()
    assert again == {"isDone": True, "output": ["The command has already finished."]}


@pytest.mark.usefixtures("sleeper")
def test_force_stop(control: Control, monkeypatch: pytest.MonkeyPatch) -> None:
    from aerovane.control import routes

    monkeypatch.setattr(routes, "STOP_WAIT", 0.5)
    execution = _start(control, "ignore")
    polite = control.post("stopAirflowCommand", {**execution, "force": False}).json()
    assert polite["isDone"] is False
    forced = control.post("stopAirflowCommand", {**execution, "force": True}).json()
    assert forced["isDone"] is True and "SIGKILL" in forced["output"][0]
    assert _poll_end(control, execution)["exitInfo"]["exitCode"] == 137


def test_a_command_whose_server_died_is_reported_lost(control: Control) -> None:
    """A RUNNING row whose process is gone (its API server died) ends with an error."""
    from aerovane.control import commands
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.db.types import utcnow

    control.describe()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with create_session() as session:
        environment = session.query(models.Environment).one()
        session.add(
            models.AirflowCommand(
                id="lost-command",
                environment_id=environment.id,
                command="version",
                parameters=[],
                state="RUNNING",
                pid=gone.pid,
                hostname=commands.hostname(),
                create_time=utcnow(),
            )
        )
    body = control.post("pollAirflowCommand", {"executionId": "lost-command"}).json()
    assert body["outputEnd"] is True
    assert body["exitInfo"]["exitCode"] == 1
    assert "ended without reporting" in body["exitInfo"]["error"]


def test_output_is_stored_for_any_worker(control: Control) -> None:
    """Polls are answered from the database: rows exist for every line, in order."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    result = control.run("config", "get-value", "core", "parallelism")
    with create_session(readonly=True) as session:
        rows = (
            session.query(models.AirflowCommandOutput)
            .filter_by(command_id=result["execution"]["executionId"])
            .order_by(models.AirflowCommandOutput.line_number)
            .all()
        )
        command = session.get(models.AirflowCommand, result["execution"]["executionId"])
        assert command is not None
        assert (command.command, command.subcommand, command.parameters) == (
            "config",
            "get-value",
            ["core", "parallelism"],
        )
        assert command.requested_by.startswith("serviceAccount:composer-admin@")
    assert [(r.line_number, r.content) for r in rows] == [(1, "32")]
    assert "AEROVANE_COMMAND_ID" not in os.environ  # only the command's own environment has it


def test_passwords_are_never_stored_and_runs_are_audited(control: Control) -> None:
    import json

    from aerovane.db import models
    from aerovane.db.engine import create_session

    result = control.run("users", "create", *USER_ARGS, "--password", "s3cret-pw")
    assert result["exitInfo"]["exitCode"] == 0
    with create_session(readonly=True) as session:
        command = session.get(models.AirflowCommand, result["execution"]["executionId"])
        assert command is not None
        assert command.parameters == [*USER_ARGS, "--password", "***"]
        events = (
            session.query(models.EventLog)
            .filter(models.EventLog.event == "composer.environments.executeAirflowCommand")
            .all()
        )
    assert len(events) == 1
    assert events[0].owner.startswith("serviceAccount:composer-admin@")
    extra = json.loads(events[0].extra)
    assert extra["executionId"] == command.id and extra["parameters"] == command.parameters
    assert "s3cret-pw" not in events[0].extra


@pytest.mark.usefixtures("sleeper")
def test_output_goes_to_the_database_the_command_started_in(
    control: Control, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader thread keeps the database it started with, even if the process's settings
    point elsewhere by the time the command ends."""
    from aerovane.config import get_settings, reload_settings
    from aerovane.control import commands
    from aerovane.db import models
    from aerovane.db.engine import create_session

    execution = _start(control)
    original = get_settings().sql_alchemy_conn
    process = commands._running[execution["executionId"]]
    monkeypatch.setenv("AEROVANE__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path}/other.db")
    reload_settings()
    process.terminate()
    assert eventually(lambda: execution["executionId"] not in commands._running)
    assert eventually(lambda: _finished(original, execution["executionId"]))
    with create_session(readonly=True, url=original) as session:
        command = session.get(models.AirflowCommand, execution["executionId"])
        assert command is not None and command.exit_code == 143
    assert not (tmp_path / "other.db").exists()


def _finished(url: str, command_id: str) -> bool:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True, url=url) as session:
        command = session.get(models.AirflowCommand, command_id)
        return command is not None and command.state == "FINISHED"
