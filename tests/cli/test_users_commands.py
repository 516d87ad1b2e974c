"""`aerovane users reset-password` against a real database."""

from __future__ import annotations

from click.testing import CliRunner

from tests.cli.conftest import fails, ok


def _password_ok(username: str, password: str) -> bool:
    from aerovane.auth.passwords import verify_password
    from aerovane.auth.users import get_user
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return verify_password(get_user(username, session=session).password, password)


def test_reset_password(runner: CliRunner) -> None:
    ok(
        runner,
        "users",
        "create",
        "-u",
        "ana",
        "-e",
        "ana@example.com",
        "-f",
        "A",
        "-l",
        "B",
        "-r",
        "Viewer",
        "-p",
        "first-pass",
    )
    out = ok(runner, "users", "reset-password", "-u", "ana", "-p", "second-pass")
    assert out == "ana password reset successfully\n" and "second-pass" not in out
    assert _password_ok("ana", "second-pass") and not _password_ok("ana", "first-pass")
    ok(runner, "users", "reset-password", "-e", "ana@example.com", input="third\nthird\n")
    assert _password_ok("ana", "third")
    ok(runner, "users", "reset-password", "-u", "ana", "--use-random-password")
    assert not _password_ok("ana", "third")
    assert "not" in fails(runner, "users", "reset-password", "-u", "bob", "-p", "x").stderr
