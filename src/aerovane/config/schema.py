"""The options Aerovane knows: section, key, type, default, allowed values, sensitivity.

Names follow Airflow's `airflow.cfg` wherever Airflow has the option, so an `airflow.cfg`
fragment or an `AIRFLOW__SECTION__KEY` variable means the same thing here. Defaults may refer to
`{AEROVANE_HOME}`, expanded when settings are loaded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Parser = Callable[[str], object]


class InvalidValue(ValueError):
    """Raised by an option parser; the message says what is allowed."""


_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidValue("expected a boolean (True/False)")


def parse_int(minimum: int | None = None) -> Parser:
    wanted = "expected an integer" + (f" >= {minimum}" if minimum is not None else "")

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise InvalidValue(wanted) from None
        if minimum is not None and value < minimum:
            raise InvalidValue(wanted)
        return value

    return parse


def parse_float(minimum: float | None = None) -> Parser:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise InvalidValue("expected a number") from None
        if minimum is not None and value < minimum:
            raise InvalidValue(f"expected a number >= {minimum}")
        return value

    return parse


def parse_choice(*choices: str) -> Parser:
    lowered = {c.lower(): c for c in choices}

    def parse(raw: str) -> str:
        value = raw.strip()
        if value.lower() not in lowered:
            raise InvalidValue("expected one of " + ", ".join(choices))
        return lowered[value.lower()]

    return parse


def parse_str(raw: str) -> str:
    return raw.strip()


def parse_regex(raw: str) -> str:
    try:
        re.compile(raw)
    except re.error as exc:
        raise InvalidValue(f"expected a regular expression ({exc})") from None
    return raw


def parse_expose_config(raw: str) -> str:
    value = raw.strip()
    if value.lower() == "non-sensitive-only":
        return "non-sensitive-only"
    try:
        return "True" if parse_bool(value) else "False"
    except InvalidValue:
        raise InvalidValue("expected True, False or non-sensitive-only") from None


def parse_cidr_list(raw: str) -> tuple[str, ...]:
    """Comma-separated CIDR ranges; host bits must be clear (`1.2.3.4/24` is refused)."""
    ranges: list[str] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ranges.append(str(ipaddress.ip_network(part, strict=True)))
        except ValueError as exc:
            raise InvalidValue(f"expected CIDR ranges such as 10.0.0.0/8 or ::/0 ({exc})") from None
    return tuple(ranges)


def parse_sql_alchemy_conn(raw: str) -> str:
    value = raw.strip()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise InvalidValue("expected a sqlite:/// or postgresql:// URL")
    return value


#: Airflow's executor names and dotted paths → the executor Aerovane runs.
EXECUTORS = {
    "LocalExecutor": "LocalExecutor",
    "airflow.executors.local_executor.LocalExecutor": "LocalExecutor",
    "CeleryExecutor": "CeleryExecutor",
    "airflow.providers.celery.executors.celery_executor.CeleryExecutor": "CeleryExecutor",
    "airflow.executors.celery_executor.CeleryExecutor": "CeleryExecutor",
}


def parse_executor(raw: str) -> str:
    value = raw.strip()
    if value not in EXECUTORS:
        raise InvalidValue("expected LocalExecutor or CeleryExecutor (or Airflow's dotted path)")
    return EXECUTORS[value]


def parse_fernet_key(raw: str) -> str:
    value = raw.strip()
    if not value:
        return value
    import base64
    import binascii

    for key in value.split(","):
        try:
            if len(base64.urlsafe_b64decode(key.strip().encode())) != 32:
                raise InvalidValue("expected url-safe base64 of 32 bytes (a Fernet key)")
        except (binascii.Error, ValueError):
            raise InvalidValue("expected url-safe base64 of 32 bytes (a Fernet key)") from None
    return value


@dataclass(frozen=True)
class Option:
    section: str
    key: str
    default: str
    parse: Parser = parse_str
    sensitive: bool = False
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


def _opts(section: str, *items: tuple) -> list[Option]:
    out: list[Option] = []
    for item in items:
        key, default, parse, *rest = item
        sensitive = bool(rest[0]) if rest else False
        description = rest[1] if len(rest) > 1 else ""
        out.append(Option(section, key, default, parse, sensitive, description))
    return out


_BOOL = parse_bool
_POS = parse_int(1)
_NONNEG = parse_int(0)

OPTIONS: list[Option] = [
    *_opts(
        "core",
        ("dags_folder", "{AEROVANE_HOME}/dags", parse_str, False, "Where DAG files are read from."),
        (
            "plugins_folder",
            "{AEROVANE_HOME}/plugins",
            parse_str,
            False,
            "Where Airflow plugins (AirflowPlugin subclasses) are loaded from.",
        ),
        ("parallelism", "32", _POS, False, "Task instances running at once, per scheduler."),
        ("max_active_tasks_per_dag", "16", _POS),
        ("max_active_runs_per_dag", "16", _POS),
        ("dags_are_paused_at_creation", "True", _BOOL),
        ("load_examples", "True", _BOOL),
        ("fernet_key", "", parse_fernet_key, True, "Encrypts connection and variable secrets."),
        ("default_task_retries", "0", _NONNEG),
        ("max_map_length", "1024", _POS, False, "Most task instances one mapped task expands to."),
        ("default_task_execution_timeout", "", parse_str),
        ("dagbag_import_timeout", "30.0", parse_float(0.1)),
        (
            "executor",
            "LocalExecutor",
            parse_executor,
            False,
            "LocalExecutor or CeleryExecutor (Airflow's dotted paths are accepted too).",
        ),
        ("default_timezone", "utc", parse_choice("utc")),
        ("default_pool_task_slot_count", "128", _NONNEG),
        ("killed_task_cleanup_time", "60", _POS),
        ("test_connection", "Disabled", parse_choice("Disabled", "Enabled", "Hidden")),
        (
            "hide_sensitive_var_conn_fields",
            "True",
            _BOOL,
            False,
            "Mask variables and connection extras whose names look sensitive.",
        ),
        (
            "sensitive_var_conn_names",
            "",
            parse_str,
            False,
            "Comma-separated names to treat as sensitive besides password, secret, token, ...",
        ),
    ),
    *_opts(
        "database",
        (
            "sql_alchemy_conn",
            "sqlite:///{AEROVANE_HOME}/aerovane.db",
            parse_sql_alchemy_conn,
            True,
            "Metadata database URL.",
        ),
        ("sql_alchemy_pool_size", "5", _NONNEG),
        ("sql_alchemy_max_overflow", "10", _NONNEG),
        ("sql_alchemy_pool_recycle", "1800", _NONNEG),
    ),
    *_opts(
        "logging",
        ("base_log_folder", "{AEROVANE_HOME}/logs", parse_str),
        (
            "logging_level",
            "INFO",
            parse_choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        ),
        (
            "min_length_masked_secret",
            "5",
            _NONNEG,
            False,
            "Secrets shorter than this are not masked (they would mask ordinary words).",
        ),
        (
            "worker_log_server_port",
            "8793",
            parse_int(0),
            False,
            "Where a Celery worker serves its task logs to the API (signed tokens only).",
        ),
        (
            "remote_logging",
            "False",
            _BOOL,
            False,
            "Celery workers copy each attempt's log to remote_base_log_folder when it ends.",
        ),
        (
            "remote_base_log_folder",
            "",
            parse_str,
            True,  # a URL may carry credentials (ftp://user:password@host/...)
            "A folder every host reaches (a shared mount), or an fsspec URL (s3://bucket/logs, "
            "gs://, ftp://, file://; needs the optional fsspec and the scheme's package, e.g. "
            "s3fs); read when the log is not local.",
        ),
        (
            "remote_log_conn_id",
            "",
            parse_str,
            False,
            "Connection whose login, password, host, port and extra (JSON: fsspec storage "
            "options) fill in what remote_base_log_folder's URL leaves out.",
        ),
        (
            "json_format",
            "False",
            _BOOL,
            False,
            "Components log one JSON object per line (timestamp, level, logger, message, ids).",
        ),
        (
            "json_fields",
            "timestamp, level, logger, message",
            parse_str,
            False,
            "Fields of each JSON line; other names are log record attributes, as in Airflow.",
        ),
        (
            "access_log",
            "False",
            _BOOL,
            False,
            "The API server and the proxy log one line per request (method, path, status).",
        ),
    ),
    *_opts(
        "webserver",
        ("web_server_host", "0.0.0.0", parse_str),
        ("web_server_port", "8080", parse_int(0)),
        ("base_url", "http://localhost:8080", parse_str),
        ("workers", "1", _POS),
        ("expose_config", "False", parse_expose_config),
        ("secret_key", "", parse_str, True, "Signs session cookies and file tokens."),
    ),
    *_opts(
        "api",
        (
            "auth_backends",
            "aerovane.auth.backends.iap,aerovane.auth.backends.basic_auth",
            parse_str,
        ),
        ("auth_backend", "", parse_str, False, "Deprecated single-backend form."),
        ("maximum_page_limit", "100", _POS),
        ("fallback_page_limit", "100", _POS),
        ("enable_experimental_api", "False", _BOOL),
        (
            "maximum_request_body_size",
            "5242880",
            _NONNEG,
            False,
            "Largest request body accepted, in bytes (5 MiB); a larger one gets 413.",
        ),
        (
            "maximum_json_nesting_depth",
            "64",
            _POS,
            False,
            "Deepest nesting of arrays and objects a JSON request body may have.",
        ),
        ("composer_auth_user_registration_role", "Op", parse_str),
    ),
    *_opts(
        "scheduler",
        ("scheduler_idle_sleep_time", "1.0", parse_float(0.01)),
        ("scheduler_heartbeat_sec", "5", _POS),
        ("scheduler_health_check_threshold", "30", _POS),
        ("catchup_by_default", "True", _BOOL),
        ("dag_dir_list_interval", "2", parse_float(0.1)),
        ("min_file_process_interval", "30", parse_float(0)),
        ("parsing_processes", "2", _POS),
        ("max_dagruns_to_create_per_loop", "10", _POS),
        ("max_tis_per_query", "512", _POS),
        (
            "pool_metrics_interval",
            "5.0",
            parse_float(0.1),
            False,
            "How often (seconds) the scheduler reports pool slot metrics.",
        ),
        ("scheduler_zombie_task_threshold", "300", _POS),
        # Airflow's default is 300; a dead process on this host is found without a heartbeat
        # timeout, so checking often costs little (one short write transaction).
        ("orphaned_tasks_check_interval", "10", parse_float(0.1)),
        ("allowed_run_id_pattern", r"^[A-Za-z0-9_.~:+-]+$", parse_regex),
        ("task_heartbeat_sec", "5", parse_float(0.1)),
        (
            "shutdown_grace_period",
            "30",
            parse_float(0),
            False,
            "On SIGTERM, how long (seconds) the scheduler waits for the tasks it started to "
            "finish before terminating them (a second SIGTERM terminates them at once).",
        ),
    ),
    *_opts(
        "triggerer",
        ("default_capacity", "1000", _POS, False, "Most triggers one triggerer runs at once."),
        ("job_heartbeat_sec", "5", parse_float(0.1)),
        ("triggerer_health_check_threshold", "30", _POS),
        (
            "trigger_timeout_check_interval",
            "15",
            parse_float(0.1),
            False,
            "How often (seconds) the scheduler fails deferred tasks whose trigger timed out.",
        ),
    ),
    *_opts(
        "metrics",
        ("statsd_on", "False", _BOOL, False, "Send metrics to StatsD over UDP."),
        ("statsd_host", "localhost", parse_str),
        ("statsd_port", "8125", parse_int(1)),
        ("statsd_prefix", "airflow", parse_str, False, "Namespace of every StatsD name."),
        (
            "metrics_allow_list",
            "",
            parse_str,
            False,
            "Comma-separated name prefixes (or patterns) to emit; all when empty.",
        ),
        (
            "metrics_block_list",
            "",
            parse_str,
            False,
            "Comma-separated name prefixes (or patterns) not emitted; ignored with an allow list.",
        ),
        (
            "metrics_use_pattern_match",
            "False",
            _BOOL,
            False,
            "Allow/block list entries are regular expressions found anywhere in the name.",
        ),
        (
            "prometheus_host",
            "127.0.0.1",
            parse_str,
            False,
            "Address the scheduler's, triggerer's, DAG processor's and Celery worker's /metrics"
            " servers bind.",
        ),
        ("scheduler_prometheus_port", "0", parse_int(0), False, "Scheduler /metrics; 0: off."),
        ("triggerer_prometheus_port", "0", parse_int(0), False, "Triggerer /metrics; 0: off."),
        ("worker_prometheus_port", "0", parse_int(0), False, "Celery worker /metrics; 0: off."),
        (
            "dag_processor_prometheus_port",
            "0",
            parse_int(0),
            False,
            "DAG processor /metrics (`aerovane dag-processor`); 0: off.",
        ),
    ),
    *_opts(
        "operators",
        ("default_queue", "default", parse_str, False, "The queue of a task that names none."),
    ),
    *_opts(
        "celery",
        (
            "broker_url",
            "redis://localhost:6379/0",
            parse_str,
            True,
            "Celery broker: redis://HOST:PORT/DB or amqp://USER:PASSWORD@HOST:PORT/VHOST.",
        ),
        (
            "result_backend",
            "",
            parse_str,
            True,
            "Where workers report attempts' exit codes; empty: the broker (rpc:// for AMQP).",
        ),
        ("worker_concurrency", "16", _POS, False, "Task attempts one worker runs at once."),
        (
            "stalled_task_timeout",
            "300",
            parse_float(1),
            False,
            "Seconds a task may stay queued with no worker before its message is sent again "
            "(a broker that lost it); a second delivery of a message that was not lost runs "
            "nothing.",
        ),
        ("flower_host", "0.0.0.0", parse_str),
        ("flower_port", "5555", parse_int(1)),
    ),
    *_opts(
        "sensors",
        (
            "default_timeout",
            "604800",
            parse_float(0),
            False,
            "A sensor's timeout (seconds) by default.",
        ),
    ),
    *_opts(
        "identity",
        ("project_id", "aerovane", parse_str, False, "Project part of service-account emails."),
        ("project_number", "", parse_str, False, "12-digit project number; derived if empty."),
        (
            "service_account_domain",
            "gserviceaccount.com",
            parse_str,
            False,
            "Emails are NAME@PROJECT.iam.<domain>.",
        ),
        (
            "public_url",
            "",
            parse_str,
            False,
            "URL clients reach the token service at; defaults to [webserver] base_url.",
        ),
        ("issuer", "", parse_str, False, "`iss` of issued tokens; defaults to public_url."),
        ("token_lifetime", "3600", parse_int(60)),
        ("signing_key_rotation_interval", "86400", parse_int(60)),
        ("assertion_clock_skew", "60", parse_int(0)),
    ),
    *_opts(
        "proxy",
        ("enabled", "True", _BOOL, False, "Standalone serves the public port through the proxy."),
        ("api_host", "127.0.0.1", parse_str, False, "Where the API server listens behind it."),
        ("api_port", "8081", parse_int(0)),
        ("client_id", "", parse_str, False, "OAuth client id; derived from the secret if empty."),
        ("client_id_suffix", "apps.googleusercontent.com", parse_str),
        (
            "audience",
            "",
            parse_str,
            False,
            "Audience of X-Goog-IAP-JWT-Assertion; derived if empty.",
        ),
        ("identity_namespace", "accounts.google.com", parse_str),
        (
            "allowed_ip_ranges",
            "0.0.0.0/0,::/0",
            parse_cidr_list,
            False,
            "Who may reach the web server at all; empty denies everyone.",
        ),
        ("trusted_proxies", "", parse_cidr_list, False, "Peers whose X-Forwarded-For is believed."),
        (
            "allowed_members",
            "allAuthenticatedUsers",
            parse_str,
            False,
            "Access policy: user:EMAIL, serviceAccount:EMAIL, domain:DOMAIN, "
            "allAuthenticatedUsers.",
        ),
        ("tls_cert_file", "", parse_str),
        ("tls_key_file", "", parse_str),
        ("session_lifetime", "28800", parse_int(60)),
        ("oidc_issuer", "", parse_str, False, "Optional upstream OIDC provider for people."),
        ("oidc_client_id", "", parse_str),
        ("oidc_client_secret", "", parse_str, True),
    ),
    *_opts(
        "smtp",
        ("smtp_host", "localhost", parse_str, False, "Mail server for EmailOperator and alerts."),
        ("smtp_port", "25", parse_int(1)),
        ("smtp_starttls", "True", _BOOL, False, "Upgrade the connection with STARTTLS."),
        ("smtp_ssl", "False", _BOOL, False, "Connect with TLS from the start (SMTPS)."),
        ("smtp_user", "", parse_str, False, "Log in when set (with smtp_password)."),
        ("smtp_password", "", parse_str, True),
        ("smtp_mail_from", "airflow@example.com", parse_str, False, "Sender of the mails."),
        ("smtp_timeout", "30", parse_int(1), False, "Seconds to wait for the server."),
        ("smtp_retry_limit", "5", _NONNEG, False, "Reconnects after a dropped connection."),
    ),
]

OPTION_INDEX: dict[tuple[str, str], Option] = {(o.section, o.key): o for o in OPTIONS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(o.section for o in OPTIONS))
