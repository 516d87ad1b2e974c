"""ORM models of the metadata database.

Table and column names follow Airflow 2's metadata schema where Airflow has the concept, which
keeps the REST API mapping obvious. Secrets (connection passwords/extras, variable values) are
stored encrypted; see `aerovane.db.crypto`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aerovane.db.types import UtcDateTime, utcnow

NAMING = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_uq",
    "ck": "%(table_name)s_%(constraint_name)s_ck",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UtcDateTime, dict[str, Any]: JSON}


ID_LEN = 250


class DagModel(Base):
    """What the scheduler and API know about a DAG, refreshed from every parse."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    dag_display_name: Mapped[str | None] = mapped_column(String(2000))
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_parsed_time: Mapped[dt.datetime | None]
    fileloc: Mapped[str] = mapped_column(String(2000), default="")
    owners: Mapped[str] = mapped_column(String(2000), default="")
    description: Mapped[str | None] = mapped_column(Text)
    default_view: Mapped[str] = mapped_column(String(25), default="grid")
    schedule_interval: Mapped[Any] = mapped_column(JSON, nullable=True)
    timetable_description: Mapped[str | None] = mapped_column(String(1000))
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    has_task_concurrency_limits: Mapped[bool] = mapped_column(Boolean, default=False)
    has_import_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    next_dagrun: Mapped[dt.datetime | None]
    next_dagrun_data_interval_start: Mapped[dt.datetime | None]
    next_dagrun_data_interval_end: Mapped[dt.datetime | None]
    next_dagrun_create_after: Mapped[dt.datetime | None]
    #: Set when the DAG is scheduled on datasets (the serialized condition).
    dataset_expression: Mapped[Any] = mapped_column(JSON, nullable=True)

    tags: Mapped[list[DagTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="DagTag.name"
    )

    __table_args__ = (Index(None, "next_dagrun_create_after"),)


class DagTag(Base):
    __tablename__ = "dag_tag"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )


class SerializedDagModel(Base):
    """A DAG's JSON form, so the scheduler and API never import user code."""

    __tablename__ = "serialized_dag"

    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    fileloc: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    dag_hash: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DagCode(Base):
    __tablename__ = "dag_code"

    fileloc_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    fileloc: Mapped[str] = mapped_column(String(2000))
    source_code: Mapped[str] = mapped_column(Text)
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DagRun(Base):
    __tablename__ = "dag_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    logical_date: Mapped[dt.datetime] = mapped_column("execution_date", UtcDateTime)
    queued_at: Mapped[dt.datetime | None]
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    state: Mapped[str] = mapped_column(String(50), default="queued")
    run_type: Mapped[str] = mapped_column(String(50))
    external_trigger: Mapped[bool] = mapped_column(Boolean, default=False)
    conf: Mapped[Any] = mapped_column(JSON, nullable=True)
    data_interval_start: Mapped[dt.datetime | None]
    data_interval_end: Mapped[dt.datetime | None]
    last_scheduling_decision: Mapped[dt.datetime | None]
    dag_hash: Mapped[str | None] = mapped_column(String(64))
    creating_job_id: Mapped[int | None]
    clear_number: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    triggered_by: Mapped[str | None] = mapped_column(String(512))
    #: The client's `Idempotency-Key`; a retried trigger returns this run instead of a new one.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        UniqueConstraint("dag_id", "execution_date"),
        UniqueConstraint("dag_id", "idempotency_key"),
        Index(None, "state", "dag_id"),
    )


class TaskInstance(Base):
    """One task of one run. `try_number` counts attempts started (0 before the first)."""

    __tablename__ = "task_instance"

    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1)
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str | None] = mapped_column(String(20))
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str] = mapped_column(String(1000), default="")
    unixname: Mapped[str] = mapped_column(String(1000), default="")
    pid: Mapped[int | None]
    operator: Mapped[str | None] = mapped_column(String(1000))
    custom_operator_name: Mapped[str | None] = mapped_column(String(1000))
    pool: Mapped[str] = mapped_column(String(256), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(256), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    queued_dttm: Mapped[dt.datetime | None]
    queued_by_job_id: Mapped[int | None]
    executor: Mapped[str | None] = mapped_column(String(1000))
    executor_config: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: When an `up_for_retry` or `up_for_reschedule` task instance may run again. Kept on one
    #: scheduled back from `up_for_reschedule`: the next attempt resumes the same try.
    next_retry_at: Mapped[dt.datetime | None]
    last_heartbeat_at: Mapped[dt.datetime | None]
    rendered_fields: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The task's `map_index_template` rendered after its last attempt ran (Airflow 2.9+).
    rendered_map_index: Mapped[str | None] = mapped_column(String(250))
    task_display_name: Mapped[str | None] = mapped_column(String(2000))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    #: A `deferred` attempt's trigger, and what the attempt resumes with once it fires.
    trigger_id: Mapped[int | None] = mapped_column(ForeignKey("trigger.id", ondelete="SET NULL"))
    trigger_timeout: Mapped[dt.datetime | None]
    next_method: Mapped[str | None] = mapped_column(String(1000))
    next_kwargs: Mapped[Any] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
        Index(None, "dag_id", "run_id"),
        Index(None, "state"),
        Index(None, "trigger_id"),
    )


class Trigger(Base):
    """A deferred task's serialized trigger; `triggerer_id` is the triggerer job running it."""

    __tablename__ = "trigger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classpath: Mapped[str] = mapped_column(String(1000))
    kwargs: Mapped[Any] = mapped_column(JSON)
    created_date: Mapped[dt.datetime] = mapped_column(default=utcnow)
    triggerer_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index(None, "triggerer_id"),)


class TaskInstanceHistory(Base):
    """A finished earlier attempt of a task instance (the `tries` endpoints read this)."""

    __tablename__ = "task_instance_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str | None] = mapped_column(String(20))
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str] = mapped_column(String(1000), default="")
    unixname: Mapped[str] = mapped_column(String(1000), default="")
    pid: Mapped[int | None]
    operator: Mapped[str | None] = mapped_column(String(1000))
    pool: Mapped[str] = mapped_column(String(256), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(256), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    queued_dttm: Mapped[dt.datetime | None]
    executor: Mapped[str | None] = mapped_column(String(1000))
    task_display_name: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (
        UniqueConstraint("dag_id", "task_id", "run_id", "map_index", "try_number"),
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
    )


class TaskReschedule(Base):
    """One `reschedule`-mode poke that ended with "not yet": when it ran and when the same try
    runs again. The first row of a try gives the sensor's original start (for `timeout`)."""

    __tablename__ = "task_reschedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[dt.datetime]
    end_date: Mapped[dt.datetime]
    duration: Mapped[int] = mapped_column(Integer)
    reschedule_date: Mapped[dt.datetime]

    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "task_id", "run_id", "map_index"],
            [
                "task_instance.dag_id",
                "task_instance.task_id",
                "task_instance.run_id",
                "task_instance.map_index",
            ],
            ondelete="CASCADE",
        ),
        Index(None, "dag_id", "task_id", "run_id", "map_index", "try_number"),
    )


class XCom(Base):
    __tablename__ = "xcom"

    dag_run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    value: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index(None, "dag_id", "run_id", "task_id"),)


class EventLog(Base):
    """The audit log (`log` in Airflow)."""

    __tablename__ = "log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dttm: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    map_index: Mapped[int | None]
    event: Mapped[str] = mapped_column(String(60))
    execution_date: Mapped[dt.datetime | None]
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    owner: Mapped[str | None] = mapped_column(String(512))
    owner_display_name: Mapped[str | None] = mapped_column(String(500))
    extra: Mapped[str | None] = mapped_column(Text)
    try_number: Mapped[int | None]

    __table_args__ = (Index(None, "dttm"), Index(None, "dag_id", "event"))


class CallbackRequest(Base):
    """A DAG-level callback (on_success/on_failure) for the DAG processor to run, as in Airflow 2.

    The scheduler adds one in the transaction that finishes the run; a DAG processor claims it
    by deleting it and runs the DAG file's callbacks in a child process.
    """

    __tablename__ = "callback_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    callback_data: Mapped[Any] = mapped_column(JSON)
    callback_type: Mapped[str] = mapped_column(String(20))
    processor_subdir: Mapped[str | None] = mapped_column(String(2000))


class SlaMiss(Base):
    """A task that had not finished `sla` after its run's data interval ended (Airflow 2)."""

    __tablename__ = "sla_miss"

    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    execution_date: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    email_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[dt.datetime | None]
    description: Mapped[str | None] = mapped_column(Text)
    notification_sent: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index(None, "dag_id"), Index(None, "timestamp"))


class ImportErrorModel(Base):
    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)
    filename: Mapped[str] = mapped_column(String(1024))
    stacktrace: Mapped[str] = mapped_column(Text)


class Connection(Base):
    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conn_id: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    conn_type: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(500))
    schema: Mapped[str | None] = mapped_column(String(500))
    login: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    port: Mapped[int | None]
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_extra_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[str | None] = mapped_column(Text)


class Variable(Base):
    __tablename__ = "variable"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    val: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)


class Pool(Base):
    __tablename__ = "slot_pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool: Mapped[str] = mapped_column(String(256), unique=True)
    slots: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str | None] = mapped_column(Text)
    include_deferred: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    """A long-running component (scheduler, DAG processor); its heartbeat drives /health."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_type: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), default="running")
    hostname: Mapped[str] = mapped_column(String(500), default="")
    unixname: Mapped[str] = mapped_column(String(1000), default="")
    pid: Mapped[int | None]
    executor_class: Mapped[str | None] = mapped_column(String(500))
    start_date: Mapped[dt.datetime] = mapped_column(default=utcnow)
    end_date: Mapped[dt.datetime | None]
    latest_heartbeat: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index(None, "job_type", "latest_heartbeat"),)


# -- datasets -----------------------------------------------------------------------------------


class DatasetModel(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(String(3000))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    is_orphaned: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index(None, "uri", unique=True),)


class DatasetEvent(Base):
    __tablename__ = "dataset_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_map_index: Mapped[int | None] = mapped_column(Integer, default=-1)
    timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)

    dataset: Mapped[DatasetModel] = relationship(lazy="joined")

    __table_args__ = (Index(None, "dataset_id", "timestamp"),)


class DagScheduleDatasetReference(Base):
    """DAG `dag_id` is scheduled on dataset `dataset_id`."""

    __tablename__ = "dag_schedule_dataset_reference"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True
    )
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TaskOutletDatasetReference(Base):
    """Task `dag_id.task_id` declares dataset `dataset_id` as an outlet."""

    __tablename__ = "task_outlet_dataset_reference"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True
    )
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DatasetDagRunQueue(Base):
    """Dataset `dataset_id` was updated since DAG `target_dag_id`'s last dataset-triggered run."""

    __tablename__ = "dataset_dag_run_queue"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True
    )
    target_dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DagRunDatasetEvent(Base):
    """The dataset events that triggered a dataset-triggered run."""

    __tablename__ = "dagrun_dataset_event"

    dag_run_id: Mapped[int] = mapped_column(
        ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_event.id", ondelete="CASCADE"), primary_key=True
    )


class DatasetAliasModel(Base):
    """A name under which tasks record events on datasets they pick at run time."""

    __tablename__ = "dataset_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(3000))

    __table_args__ = (Index(None, "name", unique=True),)


class DatasetAliasDataset(Base):
    """Alias `alias_id` has recorded an event on dataset `dataset_id`."""

    __tablename__ = "dataset_alias_dataset"

    alias_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_alias.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DatasetAliasDatasetEvent(Base):
    """Event `event_id` was recorded through alias `alias_id`."""

    __tablename__ = "dataset_alias_dataset_event"

    alias_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_alias.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_event.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DagScheduleDatasetAliasReference(Base):
    """DAG `dag_id` is scheduled on alias `alias_id`."""

    __tablename__ = "dag_schedule_dataset_alias_reference"

    alias_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_alias.id", ondelete="CASCADE"), primary_key=True
    )
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- identity: service accounts, their keys, our signing keys, IAM bindings ----------------------


class ServiceAccount(Base):
    """A machine identity. `unique_id` is the stable 21-digit number (Google's oauth2ClientId)."""

    __tablename__ = "service_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(21), unique=True)
    project: Mapped[str] = mapped_column(String(100))
    account_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    keys: Mapped[list[ServiceAccountKey]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", back_populates="service_account"
    )


class ServiceAccountKey(Base):
    """A user-managed key: only the public half is stored; the private key is shown once."""

    __tablename__ = "service_account_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    service_account_id: Mapped[int] = mapped_column(
        ForeignKey("service_account.id", ondelete="CASCADE")
    )
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    valid_before: Mapped[dt.datetime | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)

    service_account: Mapped[ServiceAccount] = relationship(back_populates="keys")


class SigningKey(Base):
    """Aerovane's own keys: `token` (RS256 ID/access tokens) and `iap` (ES256 assertions).

    The private key is Fernet-encrypted. A rotated key stops signing at `rotated_at` and stays
    published until `expires_at`, when every token it signed has expired.
    """

    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    alg: Mapped[str] = mapped_column(String(10))
    private_key: Mapped[str] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]

    __table_args__ = (Index(None, "purpose", "rotated_at"),)


class IamBinding(Base):
    """`member` holds `role` on `resource` (e.g. serviceAccount:x holds
    roles/iap.httpsResourceAccessor on `iap`, or user:y holds
    roles/iam.serviceAccountTokenCreator on `serviceAccounts/<email>`)."""

    __tablename__ = "iam_binding"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(400))
    role: Mapped[str] = mapped_column(String(100))
    member: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("resource", "role", "member"),)


class LoginThrottle(Base):
    """Counters of failed password attempts (per account, per address, per both) and the
    addresses each account signed in from, keyed by a digest: no username or address is stored
    (`aerovane.identity.throttle`). A row means nothing once `expires_at` (epoch seconds) is
    past."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index(None, "expires_at"),)


# -- control plane: environments, long-running operations, CLI commands run inside them ---------


class Environment(Base):
    """A managed environment, shaped like Cloud Composer's `Environment` resource.

    `config_overrides` ({"section-key": value}), `env_variables` and `allowed_ip_ranges`
    ([{value, description}], None = unrestricted) are applied live by every process;
    `config_version` increases with each change so processes notice cheaply.
    """

    __tablename__ = "environment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="RUNNING")
    create_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    update_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    airflow_uri: Mapped[str | None] = mapped_column(Text)
    dag_gcs_prefix: Mapped[str | None] = mapped_column(Text)
    image_version: Mapped[str | None] = mapped_column(String(100))
    config_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    env_variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allowed_ip_ranges: Mapped[Any] = mapped_column(JSON, nullable=True)
    web_server_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("project", "location", "name"),)


class EnvironmentOperation(Base):
    __tablename__ = "environment_operation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id", ondelete="CASCADE"))
    operation_type: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), default="PENDING")
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[Any] = mapped_column(JSON, nullable=True)
    request: Mapped[Any] = mapped_column(JSON, nullable=True)
    create_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    end_time: Mapped[dt.datetime | None]


class AirflowCommand(Base):
    """A CLI command run inside an environment (`environments run`)."""

    __tablename__ = "airflow_command"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id", ondelete="CASCADE"))
    command: Mapped[str] = mapped_column(String(100))
    subcommand: Mapped[str | None] = mapped_column(String(100))
    parameters: Mapped[Any] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default="RUNNING")
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(500))
    exit_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(400))
    create_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    end_time: Mapped[dt.datetime | None]


class AirflowCommandOutput(Base):
    __tablename__ = "airflow_command_output"

    command_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("airflow_command.id", ondelete="CASCADE"), primary_key=True
    )
    line_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text)


# -- users, roles and permissions (Flask-AppBuilder's schema, which Airflow 2 uses) ------------


class User(Base):
    __tablename__ = "ab_user"
    #: A deleted user's id is never handed to a new user (migration 0012): tokens and cookies
    #: name users by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    last_name: Mapped[str] = mapped_column(String(256), default="")
    username: Mapped[str] = mapped_column(String(512), unique=True)
    password: Mapped[str | None] = mapped_column(String(512))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Airflow caps this at 64 characters; service-account emails can be longer.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    last_login: Mapped[dt.datetime | None]
    login_count: Mapped[int | None] = mapped_column(Integer, default=0)
    fail_login_count: Mapped[int | None] = mapped_column(Integer, default=0)
    created_on: Mapped[dt.datetime | None] = mapped_column(default=utcnow)
    changed_on: Mapped[dt.datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Aerovane's: proxy session cookies carry the value they were issued under; signing out
    #: moves it on, which ends every one of the person's sessions (`aerovane.proxy.session`).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    roles: Mapped[list[Role]] = relationship(secondary="ab_user_role", lazy="selectin")


class Role(Base):
    __tablename__ = "ab_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    permissions: Mapped[list[Permission]] = relationship(
        secondary="ab_permission_view_role", lazy="selectin"
    )


class UserRole(Base):
    __tablename__ = "ab_user_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("ab_role.id", ondelete="CASCADE"))

    __table_args__ = (UniqueConstraint("user_id", "role_id"),)


class Action(Base):
    """An action such as `can_read` (FAB calls this table ab_permission)."""

    __tablename__ = "ab_permission"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Resource(Base):
    """A resource such as `DAGs` or `DAG:example` (FAB's ab_view_menu)."""

    __tablename__ = "ab_view_menu"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(ID_LEN), unique=True)


class Permission(Base):
    """An (action, resource) pair (FAB's ab_permission_view)."""

    __tablename__ = "ab_permission_view"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    permission_id: Mapped[int] = mapped_column(ForeignKey("ab_permission.id", ondelete="CASCADE"))
    view_menu_id: Mapped[int] = mapped_column(ForeignKey("ab_view_menu.id", ondelete="CASCADE"))

    action: Mapped[Action] = relationship(lazy="joined")
    resource: Mapped[Resource] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("permission_id", "view_menu_id"),)


class RolePermission(Base):
    __tablename__ = "ab_permission_view_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    permission_view_id: Mapped[int] = mapped_column(
        ForeignKey("ab_permission_view.id", ondelete="CASCADE")
    )
    role_id: Mapped[int] = mapped_column(ForeignKey("ab_role.id", ondelete="CASCADE"))

    __table_args__ = (UniqueConstraint("permission_view_id", "role_id"),)


# -- a stamp for "users, roles or permissions changed" -------------------------------------------

#: The tables whose rows decide who may do what (each change moves AuthVersion.version).
AUTH_TABLES = (
    "ab_user",
    "ab_role",
    "ab_user_role",
    "ab_permission",
    "ab_view_menu",
    "ab_permission_view",
    "ab_permission_view_role",
)


class AuthVersion(Base):
    """One row whose `version` changes whenever any of AUTH_TABLES does, so a process may keep
    what it read about a user's access until the stamp moves (`aerovane.db.engine.auth_memo`).

    On SQLite, triggers (`auth_version_triggers`) set it to a fresh random number in the same
    transaction as the change: a value a rolled-back change drew never comes back, so nothing
    read inside that transaction can be mistaken for committed state later. PostgreSQL has no
    triggers for it yet, and no memo: each request reads its access in one indexed query.
    """

    __tablename__ = "auth_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


def auth_version_triggers() -> list[str]:
    """The SQLite statements that keep `auth_version` moving (created with the schema)."""
    statements = []
    for table in AUTH_TABLES:
        for operation in ("INSERT", "UPDATE", "DELETE"):
            # Names from AUTH_TABLES, never input.
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_{operation.lower()}_auth_version "  # noqa: S608
                f"AFTER {operation} ON {table} "
                "BEGIN UPDATE auth_version SET version = random(); END"
            )
    return statements


def create_auth_version(connection: Any) -> None:
    """The row (a random first value: a database reset must not repeat an old stamp) and, on
    SQLite, the triggers."""
    connection.execute(AuthVersion.__table__.insert().values(id=1, version=secrets.randbits(62)))
    if connection.dialect.name == "sqlite":
        for statement in auth_version_triggers():
            connection.exec_driver_sql(statement)


def _after_create(target: Any, connection: Any, tables: Any = (), **_: Any) -> None:
    if AuthVersion.__table__ in tables:
        create_auth_version(connection)


event.listen(Base.metadata, "after_create", _after_create)
