"""serialize_dag / SerializedDAG, effective priority weights and build performance."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from aerovane.authoring import (
    DAG,
    BashOperator,
    EmptyOperator,
    Param,
    PythonOperator,
    task,
)
from aerovane.authoring.exceptions import AerovaneDagError, AerovaneNotFoundException
from aerovane.authoring.priority import PRIORITY_WEIGHT_MAX, effective_priority_weights
from aerovane.authoring.serialization import SerializedDAG, dag_hash, serialize_dag
from aerovane.authoring.timetables import CronDataIntervalTimetable

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _noop() -> None:
    return None


def _sample_dag() -> DAG:
    with DAG(
        "sample",
        description="a sample",
        schedule="@daily",
        start_date=START,
        end_date=START + dt.timedelta(days=30),
        catchup=False,
        max_active_runs=2,
        max_active_tasks=4,
        tags=["a", "b"],
        doc_md="# Sample",
        params={"n": Param(1, type="integer", description="count"), "s": "x"},
        dagrun_timeout=dt.timedelta(hours=1),
        is_paused_upon_creation=False,
        on_failure_callback=_noop,
        access_control={"Op": {"can_read"}},
        owner_links={"ann": "https://example.com"},
    ) as dag:
        start = EmptyOperator(task_id="start", owner="ann")
        work = BashOperator(
            task_id="work",
            bash_command="echo hi",
            retries=3,
            retry_delay=dt.timedelta(seconds=10),
            retry_exponential_backoff=True,
            max_retry_delay=dt.timedelta(minutes=5),
            execution_timeout=dt.timedelta(minutes=2),
            pool="p",
            pool_slots=2,
            queue="q",
            priority_weight=5,
            max_active_tis_per_dag=1,
            executor_config={"cpu": 1, "tags": {"x"}},
            doc_md="work docs",
            task_display_name="Work!",
        )
        hooked = EmptyOperator(task_id="hooked", on_success_callback=_noop)
        end = EmptyOperator(task_id="end", trigger_rule="all_done", weight_rule="upstream")
        start >> work >> end
        start >> hooked >> end
    return dag


def test_serialized_dict_is_json_and_round_trips() -> None:
    data = serialize_dag(_sample_dag())
    data = json.loads(json.dumps(data))  # what the engine stores
    sdag = SerializedDAG.from_dict(data)
    assert sdag.dag_id == "sample" and sdag.description == "a sample"
    assert sdag.fileloc == __file__
    assert sdag.doc_md == "# Sample" and sdag.tags == ["a", "b"]
    assert sdag.owners == ["ann", "airflow"] and sdag.owner == "ann, airflow"
    assert isinstance(sdag.timetable, CronDataIntervalTimetable)
    assert sdag.timetable.summary == "0 0 * * *"
    assert sdag.schedule_interval == {"__type": "CronExpression", "value": "@daily"}
    assert sdag.start_date == START and sdag.end_date == START + dt.timedelta(days=30)
    assert (sdag.catchup, sdag.max_active_runs, sdag.max_active_tasks) == (False, 2, 4)
    assert sdag.is_paused_upon_creation is False
    assert sdag.dagrun_timeout == dt.timedelta(hours=1)
    assert sdag.params.resolve({}) == {"n": 1, "s": "x"}
    assert sdag.params.get_param("n").description == "count"
    assert sdag.has_task_concurrency_limits is True
    assert sdag.has_on_failure_callback is True and sdag.has_on_success_callback is False
    assert sdag.access_control == {"Op": ["can_read"]}
    assert sdag.owner_links == {"ann": "https://example.com"}
    assert [t.task_id for t in sdag.roots] == ["start"]
    assert [t.task_id for t in sdag.leaves] == ["end"]
    assert sdag.task_ids == ["start", "work", "hooked", "end"]
    restriction = sdag.time_restriction
    assert restriction.earliest == START and restriction.catchup is False

    work = sdag.get_task("work")
    assert work.operator_name == work.task_type == "BashOperator"
    assert work.operator_module == "aerovane.authoring.operators.bash"
    assert work.trigger_rule == "all_success"
    assert work.upstream_task_ids == {"start"} and work.downstream_task_ids == {"end"}
    assert work.retries == 3 and work.retry_delay == dt.timedelta(seconds=10)
    assert work.retry_exponential_backoff is True
    assert work.max_retry_delay == dt.timedelta(minutes=5)
    assert work.execution_timeout == dt.timedelta(minutes=2)
    assert (work.pool, work.pool_slots, work.queue) == ("p", 2, "q")
    assert work.owner == "airflow" and work.ui_color == "#f0ede4"
    assert work.template_fields == ("bash_command", "env", "cwd")
    assert work.doc_md == "work docs" and work.task_display_name == "Work!"
    assert work.executor_config == {"cpu": 1, "tags": ["x"]}
    assert work.max_active_tis_per_dag == 1 and work.start_date == START
    assert sdag.get_task("end").trigger_rule == "all_done"
    with pytest.raises(AerovaneNotFoundException):
        sdag.get_task("missing")
    assert sdag.has_task("end") and not sdag.has_task("missing")


def test_effective_priority_weights_in_serialized_tasks() -> None:
    sdag = SerializedDAG.from_dict(serialize_dag(_sample_dag()))
    weights = {t.task_id: t.priority_weight for t in sdag.tasks}
    # start: 1 + work 5 + hooked 1 + end 1; work: 5 + end 1; end (upstream): 1 + 1 + 5 + 1
    assert weights == {"start": 8, "work": 6, "hooked": 2, "end": 8}
    assert sdag.get_task("work").own_priority_weight == 5


def test_is_empty_only_for_callback_free_empty_operators() -> None:
    sdag = SerializedDAG.from_dict(serialize_dag(_sample_dag()))
    assert sdag.get_task("start").is_empty is True
    assert sdag.get_task("end").is_empty is True
    assert sdag.get_task("hooked").is_empty is False  # has an on_success_callback
    assert sdag.get_task("work").is_empty is False
    with DAG("outlets", schedule=None) as dag:
        EmptyOperator(task_id="o", outlets=["dataset"])
        EmptyOperator(task_id="x", on_execute_callback=_noop)
    assert not any(t["is_empty"] for t in serialize_dag(dag)["tasks"])


def test_taskflow_and_decorated_names_serialize() -> None:
    with DAG("tf_ser", schedule=None) as dag:

        @task
        def one() -> int:
            return 1

        one()
    data = serialize_dag(dag)["tasks"][0]
    assert data["operator_name"] == "_PythonDecoratedOperator"
    assert data["custom_operator_name"] == "@task"
    assert data["template_fields"] == ["templates_dict", "op_args", "op_kwargs"]


def test_dag_hash_is_stable_and_tracks_changes() -> None:
    first = serialize_dag(_sample_dag())
    second = serialize_dag(_sample_dag())
    assert dag_hash(first) == dag_hash(second) == SerializedDAG.from_dict(first).dag_hash
    assert dag_hash(dict(reversed(list(first.items())))) == dag_hash(first)
    changed = _sample_dag()
    changed.get_task("work").retries = 4
    assert dag_hash(serialize_dag(changed)) != dag_hash(first)


def test_serialize_validates_first() -> None:
    with DAG("cyclic", schedule=None) as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b
    b >> a
    with pytest.raises(AerovaneDagError, match="Cycle detected in DAG: cyclic"):
        serialize_dag(dag)


def _naive_weights(dag: DAG) -> dict[str, int]:
    return {t.task_id: t.priority_weight_total for t in dag.tasks}


@pytest.mark.parametrize("seed", range(8))
def test_bitset_weights_match_graph_walks(seed: int) -> None:
    rng = random.Random(seed)
    with DAG(f"random_{seed}", schedule=None) as dag:
        ops = [
            EmptyOperator(
                task_id=f"t{i}",
                priority_weight=rng.choice([1, 1, 2, 7, -3, 1000, 0]),
                weight_rule=rng.choice(["downstream", "upstream", "absolute"]),
            )
            for i in range(60)
        ]
        for i, op in enumerate(ops):
            for j in rng.sample(range(i + 1, 60), k=min(3, 59 - i)) if i < 59 else []:
                op >> ops[j]
    assert effective_priority_weights(dag.task_dict) == _naive_weights(dag)


def test_weights_are_clamped_to_32_bits() -> None:
    with DAG("huge", schedule=None) as dag:
        a = EmptyOperator(task_id="a", priority_weight=PRIORITY_WEIGHT_MAX)
        a >> EmptyOperator(task_id="b", priority_weight=PRIORITY_WEIGHT_MAX)
    assert effective_priority_weights(dag.task_dict)["a"] == PRIORITY_WEIGHT_MAX


def _build_chain(n: int, dag_id: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        previous = None
        for i in range(n):
            op = PythonOperator(task_id=f"t{i}", python_callable=_noop)
            if previous is not None:
                previous >> op
            previous = op
    return dag


def test_thousand_operator_chain_weights() -> None:
    # Speed is measured by benchmarks/, never asserted here.
    data = serialize_dag(_build_chain(1000, "chain_1000"))
    assert len(data["tasks"]) == 1000
    assert data["tasks"][0]["priority_weight"] == 1000 and data["tasks"][-1]["priority_weight"] == 1


def test_distinct_weights_on_a_long_chain() -> None:
    with DAG("distinct", schedule=None) as dag:
        previous = None
        for i in range(1000):
            op = EmptyOperator(task_id=f"t{i}", priority_weight=i * 7919 % 100_003)
            if previous is not None:
                previous >> op
            previous = op
    weights = effective_priority_weights(dag.task_dict)
    assert weights["t998"] == dag.get_task("t998").priority_weight_total
