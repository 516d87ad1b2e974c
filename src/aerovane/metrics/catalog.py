"""The metrics Aerovane emits, as a table: Airflow's StatsD name → the Prometheus metric it is.

Each entry is keyed by Airflow's base name (the name Airflow 2.10 also emits with tags) and
says its kind, its Prometheus name and labels, and the dotted StatsD names Airflow sends for it
(templates filled from the tags). A name outside the table still goes to StatsD as given, but
has no Prometheus metric: label sets must be known up front (docs/decisions/0026).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    TIMER = "timer"


@dataclass(frozen=True)
class Metric:
    kind: Kind
    #: Prometheus name; a counter gets `_total` appended by prometheus-client.
    prometheus: str
    labels: tuple[str, ...] = ()
    #: StatsD names, filled from the tags; empty: the base name alone.
    statsd: tuple[str, ...] = ()
    help: str = ""
    #: How a gauge merges over processes sharing a multiprocess folder: the live processes'
    #: latest value, or (a gauge moved by `delta`) their sum.
    multiprocess_mode: str = "livemostrecent"


C, G, T = Kind.COUNTER, Kind.GAUGE, Kind.TIMER

CATALOG: dict[str, Metric] = {
    # scheduler (airflow/jobs/scheduler_job_runner.py)
    "scheduler.scheduler_loop_duration": Metric(
        T, "airflow_scheduler_loop_duration_seconds", help="One scheduler loop pass."
    ),
    "scheduler_heartbeat": Metric(C, "airflow_scheduler_heartbeat", help="Scheduler heartbeats."),
    "dagrun.duration": Metric(
        T,
        "airflow_dagrun_duration_seconds",
        ("dag_id", "state"),
        ("dagrun.duration.{state}.{dag_id}", "dagrun.duration.{state}"),
        "From a DAG run's start to its end, by final state.",
    ),
    "pool.open_slots": Metric(
        G, "airflow_pool_open_slots", ("pool_name",), ("pool.open_slots.{pool_name}",)
    ),
    "pool.queued_slots": Metric(
        G, "airflow_pool_queued_slots", ("pool_name",), ("pool.queued_slots.{pool_name}",)
    ),
    "pool.running_slots": Metric(
        G, "airflow_pool_running_slots", ("pool_name",), ("pool.running_slots.{pool_name}",)
    ),
    "pool.deferred_slots": Metric(
        G, "airflow_pool_deferred_slots", ("pool_name",), ("pool.deferred_slots.{pool_name}",)
    ),
    "pool.scheduled_slots": Metric(
        G, "airflow_pool_scheduled_slots", ("pool_name",), ("pool.scheduled_slots.{pool_name}",)
    ),
    # executor (airflow/executors/base_executor.py)
    "executor.open_slots": Metric(G, "airflow_executor_open_slots"),
    "executor.queued_tasks": Metric(G, "airflow_executor_queued_tasks"),
    "executor.running_tasks": Metric(G, "airflow_executor_running_tasks"),
    # task instances (airflow/models/taskinstance.py)
    "ti.finish": Metric(
        C,
        "airflow_ti_finish",
        ("dag_id", "task_id", "state"),
        ("ti.finish.{dag_id}.{task_id}.{state}", "ti.finish"),
        "Task attempts whose process ended, by the state it left.",
    ),
    "ti_successes": Metric(C, "airflow_ti_successes"),
    "ti_failures": Metric(C, "airflow_ti_failures"),
    # triggerer (airflow/jobs/triggerer_job_runner.py)
    "triggerer_heartbeat": Metric(C, "airflow_triggerer_heartbeat"),
    "triggers.running": Metric(
        G,
        "airflow_triggers_running",
        ("hostname",),
        ("triggers.running.{hostname}", "triggers.running"),
    ),
    "triggers.succeeded": Metric(C, "airflow_triggers_succeeded"),
    "triggers.failed": Metric(C, "airflow_triggers_failed"),
    # Celery workers (Airflow's provider counts failed commands; the gauge is Aerovane's own)
    "celery.execute_command.failure": Metric(C, "airflow_celery_execute_command_failure"),
    "celery.worker.running_tasks": Metric(
        G,
        "aerovane_celery_worker_running_tasks",
        help="Attempts this worker runs now.",
        multiprocess_mode="livesum",
    ),
    # Aerovane's own: the identity-aware proxy and the token service
    "proxy.auth": Metric(
        C,
        "aerovane_proxy_auth",
        ("result", "reason"),
        ("proxy.auth.{result}.{reason}",),
        "Proxy admission decisions: allowed (bearer, session) or denied (ip_not_allowed, "
        "no_credentials, invalid_credentials, not_permitted).",
    ),
    "identity.token_requests": Metric(
        C,
        "aerovane_identity_token_requests",
        ("grant", "result"),
        ("identity.token_requests.{grant}.{result}",),
        "Token endpoint requests by grant: issued, or the OAuth error returned.",
    ),
    # DAG processing (airflow/dag_processing/manager.py)
    "dag_processing.total_parse_time": Metric(G, "airflow_dag_processing_total_parse_time_seconds"),
    "dag_processing.import_errors": Metric(G, "airflow_dag_processing_import_errors"),
    "dagbag_size": Metric(G, "airflow_dagbag_size"),
}
