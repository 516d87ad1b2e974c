"""The Airflow Commands API: run an allow-listed `aerovane` CLI command in the environment.

`execute` starts `[python, -m, aerovane, command, subcommand?, *parameters]` (no shell) with the
environment's variables and config overrides, in its own process group, and a reader thread in
this process stores each output line as an `AirflowCommandOutput` row as it arrives, so any API
worker can answer `poll`. `stop` signals the process group from any worker on the same host.

The allow-list follows gcloud's `environments run`: only the commands and nested subcommands
below, `users create` only with a password flag, and `--yes` for commands that would prompt.
`config get-value` of a sensitive option needs `composer.environments.update` besides.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.control.environments import is_sensitive_override
from aerovane.control.errors import invalid_argument
from aerovane.control.live import settings_overrides
from aerovane.db import models
from aerovane.db.types import utcnow

log = logging.getLogger(__name__)

#: command → allowed nested subcommands (None: the command takes none).
ALLOWED_COMMANDS: dict[str, frozenset[str] | None] = {
    "config": frozenset({"get-value", "list"}),
    "dags": frozenset({"list", "list-runs", "pause", "trigger", "unpause"}),
    "db": frozenset({"check"}),
    "roles": frozenset({"add-perms", "create", "del-perms", "list"}),
    "users": frozenset({"add-role", "create", "delete", "list", "remove-role"}),
    "version": None,
}
#: Commands that ask for confirmation; gcloud answers for the user. (None is allow-listed yet.)
PROMPTING = frozenset(
    {("dags", "delete"), ("dags", "backfill"), ("tasks", "clear"), ("db", "clean")}
)
PASSWORD_FLAGS = ("-p", "--password", "--use-random-password")

RUNNING = "RUNNING"
FINISHED = "FINISHED"
POD_NAMESPACE = "aerovane"
MAX_PARAMETERS = 100
MAX_PARAMETER_LENGTH = 4096
MAX_LINE_LENGTH = 65536
MAX_LINES = 100_000
POLL_LIMIT = 1000
#: A command whose process is gone but which has no exit code after this long was lost (its
#: API server died); the reader writes the exit code within milliseconds of the exit.
LOST_AFTER = 2.0
COMMAND_ID_VARIABLE = "AEROVANE_COMMAND_ID"


@dataclass(frozen=True)
class Invocation:
    command: str
    subcommand: str | None
    parameters: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        words = [self.command, *([self.subcommand] if self.subcommand else []), *self.parameters]
        return [sys.executable, "-m", "aerovane", *words]

    @property
    def display(self) -> str:
        return " ".join(w for w in (self.command, self.subcommand) if w)


def normalize(command: str, subcommand: str | None, parameters: Sequence[str]) -> Invocation:
    """The invocation to run, or GoogleError(400) naming what is not allowed."""
    params = list(parameters)
    if len(params) > MAX_PARAMETERS:
        raise invalid_argument(f"At most {MAX_PARAMETERS} parameters are allowed")
    for param in params:
        if len(param) > MAX_PARAMETER_LENGTH or "\x00" in param:
            raise invalid_argument(
                f"Parameters must be at most {MAX_PARAMETER_LENGTH} characters, without NUL"
            )
    if command not in ALLOWED_COMMANDS:
        raise invalid_argument(
            f'The subcommand "{command}" is not supported. Supported subcommands: '
            + ", ".join(sorted(ALLOWED_COMMANDS))
        )
    nested = ALLOWED_COMMANDS[command]
    subcommand = subcommand or None
    if nested is None:
        if subcommand:  # `run env version -- x` sends x as the nested subcommand
            params.insert(0, subcommand)
        subcommand = None
    else:
        if subcommand is None and params and not params[0].startswith("-"):
            subcommand = params.pop(0)  # `run env dags -- trigger my_dag`
        if subcommand is None:
            raise invalid_argument(
                f'The subcommand "{command}" needs a nested subcommand: '
                + ", ".join(sorted(nested))
            )
        if subcommand not in nested:
            raise invalid_argument(
                f'The subcommand "{command} {subcommand}" is not supported. Supported: '
                + ", ".join(f"{command} {name}" for name in sorted(nested))
            )
    if (command, subcommand) == ("users", "create") and not _has_password_flag(params):
        raise invalid_argument(
            'The subcommand "users create" requires one of the following command line '
            "arguments: " + ", ".join(PASSWORD_FLAGS)
        )
    if (command, subcommand) in PROMPTING and not {"-y", "--yes"} & set(params):
        params.append("--yes")
    return Invocation(command, subcommand, tuple(params))


def prints_a_secret(invocation: Invocation) -> bool:
    """`config get-value SECTION KEY` of a sensitive option (`config list` masks them): only
    callers who may update the environment may run it, as only they see such overrides."""
    if (invocation.command, invocation.subcommand) != ("config", "get-value"):
        return False
    words = [word for word in invocation.parameters if not word.startswith("-")]
    return len(words) >= 2 and is_sensitive_override(f"{words[0]}-{words[1]}")


def redact(command: str, subcommand: str | None, params: Sequence[str]) -> list[str]:
    """`params` with `users create`'s password replaced by `***`, for storing and printing."""
    if (command, subcommand) != ("users", "create"):
        return list(params)
    shown: list[str] = []
    hide_next = False
    for param in params:
        if hide_next:
            shown.append("***")
            hide_next = False
        elif param in ("-p", "--password"):
            shown.append(param)
            hide_next = True
        elif param.startswith("--password="):
            shown.append("--password=***")
        elif param.startswith("-p") and not param.startswith("--") and len(param) > 2:
            shown.append("-p***")
        else:
            shown.append(param)
    return shown


def _has_password_flag(params: Sequence[str]) -> bool:
    for param in params:
        if param in PASSWORD_FLAGS or param.startswith("--password="):
            return True
        if param.startswith("-p") and not param.startswith("--"):
            return True
    return False


# -- running ---------------------------------------------------------------------------------------


def hostname() -> str:
    return socket.gethostname()


def command_environment(environment: models.Environment) -> dict[str, str]:
    """This process's environment plus the environment's variables and config overrides."""
    env = dict(os.environ)
    env.update(environment.env_variables or {})
    overrides = settings_overrides(
        environment.config_overrides or {}, environment.allowed_ip_ranges
    )
    for (section, key), value in overrides.items():
        env[f"AEROVANE__{section.upper()}__{key.upper()}"] = value
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("COLUMNS", "200")
    return env


#: Commands this process started and is still reading: id → process.
_running: dict[str, subprocess.Popen[bytes]] = {}
_running_lock = threading.Lock()


def execute(
    environment: models.Environment, invocation: Invocation, *, requested_by: str
) -> tuple[models.AirflowCommand, str]:
    """Start the command and its reader thread; (row, error text or "")."""
    from aerovane.db.engine import create_session

    command_id = str(uuid.uuid4())
    env = command_environment(environment)
    env[COMMAND_ID_VARIABLE] = command_id
    row = models.AirflowCommand(
        id=command_id,
        environment_id=environment.id,
        command=invocation.command,
        subcommand=invocation.subcommand,
        # The process gets the password; the row (readable by every poller) never does.
        parameters=redact(invocation.command, invocation.subcommand, invocation.parameters),
        state=RUNNING,
        hostname=hostname(),
        requested_by=requested_by,
        create_time=utcnow(),
    )
    try:
        process = subprocess.Popen(
            invocation.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(_home()),
            start_new_session=True,
        )
    except OSError as exc:
        row.state, row.exit_code, row.end_time = FINISHED, 1, utcnow()
        row.error = f"Could not start the command: {exc.strerror or exc}"
        with create_session() as session:
            session.add(row)
        return row, row.error
    row.pid = process.pid
    try:
        with create_session() as session:
            session.add(row)
    except BaseException:
        _kill_group(process.pid, signal.SIGKILL)
        process.wait()
        raise
    with _running_lock:
        _running[command_id] = process
    # The reader stores into the database the command was started against, whatever the
    # process's settings say by the time its output arrives.
    url = get_settings().sql_alchemy_conn
    threading.Thread(
        target=_read_output,
        args=(command_id, process, url),
        name=f"command-{command_id}",
        daemon=True,
    ).start()
    return row, ""


def _home() -> Any:
    return get_settings().home


def _read_output(command_id: str, process: subprocess.Popen[bytes], url: str) -> None:
    """Store output lines as they arrive, then the exit status. Runs in its own thread."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    written = 0
    pending = b""
    try:
        while chunk := os.read(fd, 65536):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            written = _store_lines(command_id, complete, written, url)
        if pending:
            written = _store_lines(command_id, [pending], written, url)
    except Exception:
        log.exception("Reading the output of command %s failed", command_id)
        with contextlib.suppress(OSError):
            while os.read(fd, 65536):  # keep draining so the command never blocks on a pipe
                pass
    finally:
        process.stdout.close()
        code = process.wait()
        with _running_lock:
            _running.pop(command_id, None)
        _store_exit(command_id, code, url)


def _store_lines(command_id: str, lines: list[bytes], written: int, url: str) -> int:
    from aerovane.db.engine import create_session

    rows = []
    for raw in lines:
        if written >= MAX_LINES:
            break
        written += 1
        text = raw.decode("utf-8", errors="replace").rstrip("\r")[:MAX_LINE_LENGTH]
        rows.append(
            models.AirflowCommandOutput(command_id=command_id, line_number=written, content=text)
        )
    if rows:
        with create_session(url=url) as session:
            session.add_all(rows)
    return written


def _store_exit(command_id: str, returncode: int, url: str) -> None:
    from aerovane.db.engine import create_session

    code, error = returncode, ""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        code, error = 128 - returncode, f"The command was terminated by {name}"
    try:
        with create_session(url=url) as session:
            session.execute(
                update(models.AirflowCommand)
                .where(models.AirflowCommand.id == command_id)
                .values(state=FINISHED, exit_code=code, error=error or None, end_time=utcnow())
            )
    except Exception:
        log.exception("Recording the exit of command %s failed", command_id)


# -- polling and stopping --------------------------------------------------------------------------


def find_command(
    environment: models.Environment, execution_id: str, *, session: Session
) -> models.AirflowCommand | None:
    return session.scalar(
        select(models.AirflowCommand).where(
            models.AirflowCommand.id == execution_id,
            models.AirflowCommand.environment_id == environment.id,
        )
    )


def process_lost(command: models.AirflowCommand) -> bool:
    """Whether a RUNNING command's process is gone (checked on its own host only)."""
    if command.state != RUNNING or command.hostname != hostname() or command.pid is None:
        return False
    with _running_lock:
        if command.id in _running:
            return False
    try:
        os.kill(command.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return not _is_our_command(command.pid, command.id)


def _is_our_command(pid: int, command_id: str) -> bool:
    """Whether `pid` is still the command's process (not a reused pid); True if unknowable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{COMMAND_ID_VARIABLE}={command_id}".encode() in fh.read().split(b"\0")
    except OSError:
        return True


def record_lost(command_id: str) -> None:
    """Finish a lost command, unless a reader records its real exit in the meantime."""
    from aerovane.db.engine import create_session

    time.sleep(LOST_AFTER)  # a live reader in another worker records the exit within ms
    with create_session() as session:
        session.execute(
            update(models.AirflowCommand)
            .where(models.AirflowCommand.id == command_id, models.AirflowCommand.state == RUNNING)
            .values(
                state=FINISHED,
                exit_code=1,
                error="The command's process ended without reporting its exit status",
                end_time=utcnow(),
            )
        )


def poll(command: models.AirflowCommand, next_line: int, *, session: Session) -> dict[str, Any]:
    """Lines from `next_line` on (at most POLL_LIMIT) and, once all were read, the exit.

    `command` must have been read before the lines: a command seen finished has all of its
    output stored already.
    """
    first = max(1, next_line)
    rows = list(
        session.execute(
            select(models.AirflowCommandOutput.line_number, models.AirflowCommandOutput.content)
            .where(
                models.AirflowCommandOutput.command_id == command.id,
                models.AirflowCommandOutput.line_number >= first,
            )
            .order_by(models.AirflowCommandOutput.line_number)
            .limit(POLL_LIMIT + 1)
        )
    )
    more = len(rows) > POLL_LIMIT
    output = [{"lineNumber": n, "content": text} for n, text in rows[:POLL_LIMIT]]
    ended = command.state == FINISHED and not more
    body: dict[str, Any] = {"output": output, "outputEnd": ended}
    if ended:
        body["exitInfo"] = {"exitCode": command.exit_code or 0, "error": command.error or ""}
    return body


def stop(command: models.AirflowCommand, *, force: bool) -> list[str]:
    """Signal the command's process group (SIGKILL when forced); messages for the caller."""
    if command.state == FINISHED:
        return ["The command has already finished."]
    if command.hostname != hostname() or command.pid is None:
        raise invalid_argument(
            f"The command runs on host {command.hostname!r}; stop it from an API server there"
        )
    with _running_lock:
        ours = command.id in _running
    if not ours and not _is_our_command(command.pid, command.id):
        return ["The command's process is no longer running."]
    sig = signal.SIGKILL if force else signal.SIGTERM
    if not _kill_group(command.pid, sig):
        return ["The command's process is no longer running."]
    return [f"Sent {sig.name} to the command (pid {command.pid})."]


def _kill_group(pid: int, sig: int) -> bool:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_finished(command_id: str, timeout: float) -> bool:
    """Whether the command's exit was recorded within `timeout` seconds."""
    from aerovane.db.engine import create_session

    deadline = time.monotonic() + timeout
    while True:
        with create_session(readonly=True) as session:
            state = session.scalar(
                select(models.AirflowCommand.state).where(models.AirflowCommand.id == command_id)
            )
        if state != RUNNING or time.monotonic() >= deadline:
            return state == FINISHED
        time.sleep(0.05)
