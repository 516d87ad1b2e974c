"""`aerovane environments describe|list|update|run` and `aerovane projects ...` against the
running control plane, with tokens from a key file (google-auth) or `aerovane auth login`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

import pytest
import yaml
from click.testing import CliRunner, Result

from aerovane.cli import _register, cli
from tests.control.conftest import (
    ENV,
    PROJECT,
    USER_ROLE,
    Account,
    Control,
    add_user,
)


@pytest.fixture
def run_cli(admin: Account, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`aerovane ...` in this process, as the composer admin's key file."""
    _register()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(admin.key_path))
    runner = CliRunner()

    def invoke(command: str, *extra: str, code: int = 0) -> Result:
        """`command` split as a shell would, plus `extra` arguments taken as they are."""
        result = runner.invoke(cli, [*shlex.split(command), *extra])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    return invoke


DESCRIBE = "environments describe aerovane --location local"
UPDATE = "environments update aerovane --location local"
RUN = "environments run aerovane --location local"


def test_describe_formats(
    run_cli: Callable[..., Result], control: Control, server_url: str
) -> None:
    value = run_cli(f"{DESCRIBE} --format='value(config.airflowUri)'")
    assert value.stdout == f"{server_url}\n"
    described = control.describe()
    assert json.loads(run_cli(f"{DESCRIBE} --format json").stdout) == described
    assert yaml.safe_load(run_cli(f"{DESCRIBE} --format yaml").stdout) == described
    default = run_cli(f"environments describe {ENV}")  # a full name needs no --location
    assert yaml.safe_load(default.stdout) == described
    fields = "value(name,state,config.softwareConfig.airflowConfigOverrides)"
    several = run_cli(f"{DESCRIBE} --project {PROJECT} --format='{fields}'")
    assert several.stdout == f"{ENV}\tRUNNING\t\n"


def test_describe_errors_are_one_line(run_cli: Callable[..., Result]) -> None:
    missing = run_cli("environments describe nope --location local", code=1)
    assert missing.stderr == (
        "Error: NOT_FOUND: Environment 'projects/aerovane/locations/local/environments/nope' "
        "not found.\n"
    )
    bad_format = run_cli(f"{DESCRIBE} --format=table", code=2)
    assert "unsupported --format" in bad_format.stderr
    no_location = run_cli("environments describe aerovane", code=2)
    assert "--location is required" in no_location.stderr


def test_list(run_cli: Callable[..., Result]) -> None:
    table = run_cli("environments list --locations local")
    assert table.stdout.splitlines() == [
        "NAME      LOCATION  STATE",
        "aerovane  local     RUNNING",
    ]
    names = run_cli("environments list --locations local,elsewhere --format='value(name)'")
    assert names.stdout == f"{ENV}\n"
    as_json = json.loads(run_cli("environments list --locations - --format=json").stdout)
    assert [e["name"] for e in as_json] == [ENV]


def test_update_airflow_configs(run_cli: Callable[..., Result], control: Control) -> None:
    from aerovane.config import get_settings

    def overrides() -> dict[str, str]:
        return control.describe()["config"]["softwareConfig"]["airflowConfigOverrides"]

    done = run_cli(
        f"{UPDATE} --update-airflow-configs=core-parallelism=5,api-maximum_page_limit=40"
    )
    assert "Waiting for [projects/aerovane/locations/local/operations/" in done.stderr
    assert done.stderr.endswith(f"...done.\nUpdated environment [{ENV}].\n")
    assert overrides() == {"core-parallelism": "5", "api-maximum_page_limit": "40"}
    assert get_settings().getint("core", "parallelism") == 5
    backends = "airflow.api.auth.backend.session,airflow.api.auth.backend.basic_auth"
    run_cli(
        f"{UPDATE} --remove-airflow-configs=core-parallelism",
        f"--update-airflow-configs=^:^api-auth_backends={backends}",
    )
    assert overrides() == {"api-maximum_page_limit": "40", "api-auth_backends": backends}
    run_cli(f"{UPDATE} --clear-airflow-configs --update-airflow-configs=core-parallelism=6")
    assert overrides() == {"core-parallelism": "6"}
    run_cli(f"{UPDATE} --clear-airflow-configs")
    assert overrides() == {}


def test_update_env_variables_and_ip_ranges(
    run_cli: Callable[..., Result], control: Control
) -> None:
    from aerovane.config import get_settings

    def variables() -> dict[str, str]:
        return control.describe()["config"]["softwareConfig"]["envVariables"]

    run_cli(f"{UPDATE} --update-env-variables=A=1,B=2")
    run_cli(f"{UPDATE} --remove-env-variables=A --update-env-variables=C=3")
    assert variables() == {"B": "2", "C": "3"}
    run_cli(f"{UPDATE} --clear-env-variables")
    assert variables() == {}

    run_cli(
        f"{UPDATE} --update-web-server-allow-ip 'ip_range=127.0.0.0/8,description=this host'"
        " --update-web-server-allow-ip ip_range=::1/128"
    )
    assert get_settings().get("proxy", "allowed_ip_ranges") == ("127.0.0.0/8", "::1/128")
    network = control.describe()["config"]["webServerNetworkAccessControl"]
    assert network["allowedIpRanges"] == [
        {"value": "127.0.0.0/8", "description": "this host"},
        {"value": "::1/128", "description": ""},
    ]
    run_cli(f"{UPDATE} --clear-web-server-allow-ip")
    assert get_settings().get("proxy", "allowed_ip_ranges") == ()
    run_cli(f"{UPDATE} --web-server-allow-all")
    assert get_settings().get("proxy", "allowed_ip_ranges") == ("0.0.0.0/0", "::/0")


def test_update_errors(run_cli: Callable[..., Result]) -> None:
    refused = run_cli(f"{UPDATE} --update-airflow-configs=core-fernet_key=x", code=1)
    assert refused.stderr == (
        'Error: INVALID_ARGUMENT: Property "core-fernet_key" cannot be overridden\n'
    )
    bad_cidr = run_cli(f"{UPDATE} --update-web-server-allow-ip ip_range=10.1.2.3/8", code=1)
    assert "has host bits set" in bad_cidr.stderr
    mixed = run_cli(f"{UPDATE} --clear-airflow-configs --clear-env-variables", code=2)
    assert "exactly one kind of update" in mixed.stderr
    nothing = run_cli(UPDATE, code=2)
    assert "exactly one kind of update" in nothing.stderr
    malformed = run_cli(f"{UPDATE} --update-airflow-configs=novalue", code=2)
    assert "expected KEY=VALUE" in malformed.stderr


def test_run_streams_output_and_exits_with_the_command_code(
    run_cli: Callable[..., Result],
) -> None:
    carol = "-u carol -e carol@example.com -f Carol -l - -r Op"
    created = run_cli(f"{RUN} users create -- {carol} --use-random-password")
    assert created.stdout == "User carol created with role Op\n"
    assert "Executing the command: [ aerovane users create -u carol" in created.stderr
    assert "Command exit code: 0" in created.stderr
    listed = run_cli(f"{RUN} users -- list -o json")
    assert [u["username"] for u in json.loads(listed.stdout)] == ["carol"]
    # The managed-Airflow guide's pre-registration: any unique string is the email.
    sa = "-u accounts.google.com:112233 -e uid-112233 -f uid-112233 -l - -r Op"
    registered = run_cli(f"{RUN} users create -- {sa} --use-random-password")
    assert registered.stdout == "User accounts.google.com:112233 created with role Op\n"
    erin = "-u erin -e erin@example.com -f Erin -l - -r Viewer"
    secret = run_cli(f"{RUN} users create -- {erin} -p pw-not-shown")
    assert "pw-not-shown" not in secret.output
    assert "-p *** ]..." in secret.stderr
    failed = run_cli(f"{RUN} dags pause -- nope", code=1)
    assert "nope" in failed.stdout
    assert "Command exit code: 1" in failed.stderr
    refused = run_cli(f"{RUN} tasks test -- x", code=1)
    assert refused.stderr.startswith('Error: INVALID_ARGUMENT: The subcommand "tasks" is not')
    no_password = run_cli(f"{RUN} users create -- -u dan", code=1)
    assert "requires one of the following command line arguments" in no_password.stderr


def test_api_endpoint_option_and_variable(
    run_cli: Callable[..., Result], server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreachable = "http://127.0.0.1:9"
    failed = run_cli(f"{DESCRIBE} --api-endpoint {unreachable}", code=1)
    assert failed.stderr.startswith(f"Error: UNAVAILABLE: cannot reach {unreachable}")
    monkeypatch.setenv("AEROVANE_CONTROL_URL", unreachable)
    run_cli(DESCRIBE, code=1)
    ok = run_cli(f"{DESCRIBE} --api-endpoint {server_url} --format='value(state)'")
    assert ok.stdout == "RUNNING\n"


def test_tokens_from_auth_login(
    run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    not_logged_in = run_cli(DESCRIBE, code=1)
    assert "not logged in" in not_logged_in.stderr
    add_user("root", ["Admin"], password="root-pw")
    run_cli("auth login --username root --password root-pw")
    assert run_cli(f"{DESCRIBE} --format='value(state)'").stdout == "RUNNING\n"


def test_login_tokens_come_from_the_control_plane_itself(
    run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, server_url: str
) -> None:
    """The login's token URL is the web server's, which its IP allow-list may close to this
    host; this installation's control plane must still be reachable to open it again."""
    from aerovane.config import get_settings

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    add_user("root", ["Admin"], password="root-pw")
    run_cli("auth login --username root --password root-pw")
    record_path = get_settings().home / "credentials" / "root.json"
    record = json.loads(record_path.read_text())
    closed = "http://127.0.0.1:9/token"
    record_path.write_text(json.dumps({**record, "token_uri": closed}))
    assert run_cli(f"{DESCRIBE} --format='value(state)'").stdout == "RUNNING\n"
    elsewhere = run_cli(f"{DESCRIBE} --api-endpoint {server_url}", code=1)
    assert f"cannot reach the token endpoint {closed}" in elsewhere.stderr


def test_projects_iam_policy_bindings(
    run_cli: Callable[..., Result],
    make_account: Callable[..., Account],
    control_for: Callable[..., Control],
) -> None:
    account = make_account("new-member")
    caller = control_for(account)
    assert caller.get(ENV).status_code == 403
    grant = f"{PROJECT} --member {account.member} --role {USER_ROLE}"
    granted = run_cli(f"projects add-iam-policy-binding {grant} --format=json")
    bindings = json.loads(granted.stdout)["bindings"]
    assert {"role": USER_ROLE, "members": [account.member]} in bindings
    assert caller.get(ENV).status_code == 200
    shown = run_cli(f"projects get-iam-policy {PROJECT} --format=json")
    assert json.loads(shown.stdout)["bindings"] == bindings
    run_cli(f"projects remove-iam-policy-binding {grant}")
    assert caller.get(ENV).status_code == 403
    unknown = run_cli(
        f"projects add-iam-policy-binding {PROJECT} --member {account.member}"
        " --role roles/composer.superuser",
        code=1,
    )
    assert unknown.stderr.startswith("Error: Role roles/composer.superuser is not supported")
