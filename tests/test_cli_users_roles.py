"""`aerovane users ...` and `aerovane roles ...` against a real database: every command, the
export/import JSON format, and one-line errors with a non-zero exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aerovane.cli import _register, cli


@pytest.fixture
def runner(db: Path) -> CliRunner:
    _register()
    return CliRunner()


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fails(runner: CliRunner, *args: str, code: int = 1) -> Result:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 or code == 2, result.output
    if code == 1:
        assert lines[0].startswith("Error: "), result.output
    return result


def create(runner: CliRunner, username: str, role: str = "Viewer") -> None:
    ok(
        runner,
        *("users", "create", "-u", username, "-e", f"{username}@example.com"),
        *("-f", username.title(), "-l", "Tester", "-r", role, "-p", "pw"),
    )


def users(runner: CliRunner) -> list[dict[str, object]]:
    return json.loads(ok(runner, "users", "list", "-o", "json"))


# -- users ----------------------------------------------------------------------------------------


def test_create_duplicate_and_unknown_role(runner: CliRunner) -> None:
    create(runner, "alice")
    result = fails(
        runner,
        *("users", "create", "-u", "alice", "-e", "a2@example.com", "-f", "A", "-l", "B"),
        *("-r", "Viewer", "-p", "pw"),
    )
    assert "already exists" in result.output
    result = fails(
        runner,
        *("users", "create", "-u", "bob", "-e", "b@example.com", "-f", "B", "-l", "B"),
        *("-r", "Wizard", "-p", "pw"),
    )
    assert "Wizard" in result.output
    # Any unique string is an email, as Cloud Composer's pre-registration recipe relies on.
    uid_args = ("-u", "accounts.google.com:1234", "-e", "uid-5678", "-f", "uid-5678", "-l", "-")
    assert ok(runner, "users", "create", *uid_args, "-r", "Op", "--use-random-password")
    result = fails(
        runner,
        *("users", "create", "-u", "bob", "-e", "UID-5678", "-f", "B", "-l", "B"),
        *("-r", "Viewer", "-p", "pw"),
    )
    assert "The email `UID-5678` is already taken." in result.output
    result = fails(
        runner,
        *("users", "create", "-u", "bob", "-e", " ", "-f", "B", "-l", "B"),
        *("-r", "Viewer", "-p", "pw"),
    )
    assert "email must not be empty" in result.output
    create_args = ("-u", "accounts.google.com:9999", "-e", "9999", "-f", "9999", "-l", "-")
    assert ok(runner, "users", "create", *create_args, "-r", "Op", "--use-random-password")
    assert any(u["email"] == "9999" for u in users(runner))


def test_delete_by_username_or_email(runner: CliRunner) -> None:
    create(runner, "alice")
    create(runner, "bob")
    assert ok(runner, "users", "delete", "-e", "bob@example.com") == "User bob deleted\n"
    assert [u["username"] for u in users(runner)] == ["alice"]
    assert "does not exist" in fails(runner, "users", "delete", "-u", "bob").output
    assert "Missing args" in fails(runner, "users", "delete").output
    conflicting = fails(runner, "users", "delete", "-u", "alice", "-e", "alice@example.com")
    assert "Conflicting args" in conflicting.output
    ok(runner, "users", "delete", "-u", "alice")
    assert users(runner) == []


def test_add_and_remove_roles(runner: CliRunner) -> None:
    create(runner, "alice")
    out = ok(runner, "users", "add-role", "-u", "alice", "-r", "Op")
    assert out == 'User "alice" added to role "Op"\n'
    assert users(runner)[0]["roles"] == "Op,Viewer" or users(runner)[0]["roles"] == "Viewer,Op"
    again = fails(runner, "users", "add-role", "-e", "alice@example.com", "-r", "Op")
    assert again.output == 'Error: User "alice" is already a member of role "Op"\n'
    unknown = fails(runner, "users", "add-role", "-u", "alice", "-r", "Wizard")
    assert unknown.output.startswith("Error: 'Wizard' is not a valid role. Valid roles are: ")
    out = ok(runner, "users", "remove-role", "-u", "alice", "-r", "Viewer")
    assert out == 'User "alice" removed from role "Viewer"\n'
    assert users(runner)[0]["roles"] == "Op"
    missing = fails(runner, "users", "remove-role", "-u", "alice", "-r", "Viewer")
    assert missing.output == 'Error: User "alice" is not a member of role "Viewer"\n'
    assert "does not exist" in fails(runner, "users", "add-role", "-u", "zed", "-r", "Op").output


def test_export_and_import(runner: CliRunner, tmp_path: Path) -> None:
    create(runner, "alice", "Op")
    create(runner, "bob")
    ok(runner, "users", "add-role", "-u", "bob", "-r", "User")
    target = tmp_path / "users.json"
    assert ok(runner, "users", "export", str(target)) == (
        f"2 users successfully exported to {target}\n"
    )
    exported = json.loads(target.read_text())
    assert exported[0] == {
        "email": "alice@example.com",
        "firstname": "Alice",
        "id": 1,
        "lastname": "Tester",
        "roles": ["Op"],
        "username": "alice",
    }
    assert sorted(exported[1]["roles"]) == ["User", "Viewer"]
    assert list(exported[0]) == sorted(exported[0])  # sorted keys, as Airflow writes them

    # Change one user, add one, and import into the same database.
    exported[0]["firstname"] = "Alicia"
    exported[0]["roles"] = ["Viewer"]
    exported.append(
        {
            "id": 99,
            "username": "accounts.google.com:112233445566778899",
            "email": "robot@project.iam.gserviceaccount.com",
            "firstname": "Robot",
            "lastname": "-",
            "roles": ["Op", "Viewer"],
        }
    )
    target.write_text(json.dumps(exported))
    out = ok(runner, "users", "import", str(target))
    assert out == (
        "Created the following users:\n\trobot@project.iam.gserviceaccount.com\n"
        "Updated the following users:\n\talice@example.com\n\tbob@example.com\n"
    )
    listed = {u["username"]: u for u in users(runner)}
    assert listed["alice"]["first_name"] == "Alicia"
    assert listed["alice"]["roles"] == "Viewer"
    assert listed["accounts.google.com:112233445566778899"]["roles"] in ("Op,Viewer", "Viewer,Op")

    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        robot = session.scalar(select(models.User).where(models.User.first_name == "Robot"))
        assert robot is not None and robot.password is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"a": 1}', "expected a JSON list of users"),
        ('[{"username": "x"}]', "Input file didn't pass validation"),
        (
            '[{"id": 1, "username": "x", "email": "x@example.com", "firstname": "x", '
            '"lastname": "x", "roles": ["Wizard"]}]',
            "'Wizard' is not a valid role",
        ),
    ],
)
def test_import_errors(runner: CliRunner, tmp_path: Path, content: str, message: str) -> None:
    target = tmp_path / "users.json"
    target.write_text(content)
    result = runner.invoke(cli, ["users", "import", str(target)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert users(runner) == []


def test_import_refuses_username_change_and_is_atomic(runner: CliRunner, tmp_path: Path) -> None:
    create(runner, "alice")
    target = tmp_path / "users.json"
    target.write_text(
        json.dumps(
            [
                {
                    "id": 5,
                    "username": "new",
                    "email": "new@example.com",
                    "firstname": "N",
                    "lastname": "N",
                    "roles": ["Viewer"],
                },
                {
                    "id": 1,
                    "username": "alice2",
                    "email": "alice@example.com",
                    "firstname": "A",
                    "lastname": "T",
                    "roles": ["Viewer"],
                },
            ]
        )
    )
    result = fails(runner, "users", "import", str(target))
    assert "Changing the username is not allowed" in result.output
    assert [u["username"] for u in users(runner)] == ["alice"]


def test_import_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = fails(runner, "users", "import", str(tmp_path / "nope.json"))
    assert result.output == f"Error: File '{tmp_path / 'nope.json'}' does not exist\n"


# -- roles ----------------------------------------------------------------------------------------


def roles(runner: CliRunner, *args: str) -> list[dict[str, str]]:
    return json.loads(ok(runner, "roles", "list", "-o", "json", *args))


def test_list_roles(runner: CliRunner) -> None:
    assert [r["name"] for r in roles(runner)] == ["Admin", "Op", "Public", "User", "Viewer"]
    rows = roles(runner, "-p")
    viewer_dags = [r for r in rows if r["name"] == "Viewer" and r["resource"] == "DAGs"]
    assert viewer_dags == [{"name": "Viewer", "resource": "DAGs", "action": "can_read,menu_access"}]
    assert not [r for r in rows if r["name"] == "Public"]


def test_create_and_delete_roles(runner: CliRunner) -> None:
    assert ok(runner, "roles", "create", "Team A", "TeamB", "Viewer") == "Added 3 role(s)\n"
    assert {"Team A", "TeamB"} <= {r["name"] for r in roles(runner)}
    # Deleting is all or nothing.
    missing = fails(runner, "roles", "delete", "Team A", "Ghost")
    assert missing.output == "Error: Role with name 'Ghost' was not found\n"
    assert "Team A" in {r["name"] for r in roles(runner)}
    assert ok(runner, "roles", "delete", "Team A", "TeamB") == "Deleted 2 role(s)\n"
    assert {"Team A", "TeamB"}.isdisjoint({r["name"] for r in roles(runner)})
    too_long = fails(runner, "roles", "create", "x" * 65)
    assert "at most 64 characters" in too_long.output


def test_add_and_delete_permissions(runner: CliRunner) -> None:
    ok(runner, "roles", "create", "TeamA", "TeamB")
    out = ok(
        runner,
        *("roles", "add-perms", "TeamA", "TeamB"),
        *("-r", "DAGs", "-r", "Pools", "-a", "can_read", "-a", "can_edit"),
    )
    assert "Added can_read on DAGs to role TeamA" in out
    assert len(out.strip().splitlines()) == 8
    # Adding again changes nothing.
    assert ok(runner, "roles", "add-perms", "TeamA", "-r", "DAGs", "-a", "can_read") == ""
    team_a = [r for r in roles(runner, "-p") if r["name"] == "TeamA"]
    assert team_a == [
        {"name": "TeamA", "resource": "DAGs", "action": "can_edit,can_read"},
        {"name": "TeamA", "resource": "Pools", "action": "can_edit,can_read"},
    ]
    out = ok(runner, "roles", "del-perms", "TeamA", "-r", "Pools", "-a", "can_edit")
    assert out == "Deleted can_edit on Pools from role TeamA\n"
    assert ok(runner, "roles", "del-perms", "TeamA", "-r", "Pools", "-a", "can_edit") == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Ghost", "-r", "DAGs", "-a", "can_read"), "Role with name 'Ghost' was not found"),
        (
            ("Viewer", "-r", "Moon", "-a", "can_read"),
            "The specified resource: 'Moon' was not found",
        ),
        (
            ("Viewer", "-r", "DAGs", "-a", "can_fly"),
            "The specified action: 'can_fly' was not found",
        ),
    ],
)
def test_permission_errors(runner: CliRunner, args: tuple[str, ...], message: str) -> None:
    for command in ("add-perms", "del-perms"):
        result = fails(runner, "roles", command, *args)
        assert result.output == f"Error: {message}\n"


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    fails(runner, "roles", "add-perms", "Viewer", "-r", "DAGs", code=2)
    fails(runner, "roles", "create", code=2)
    fails(runner, "users", "add-role", "-u", "x", code=2)
