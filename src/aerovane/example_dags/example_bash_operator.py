"""Bash tasks with dependencies, a daily schedule and templated commands."""

from __future__ import annotations

import datetime

from aerovane.authoring import DAG, BashOperator, EmptyOperator

with DAG(
    dag_id="example_bash_operator",
    schedule="0 0 * * *",
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    dagrun_timeout=datetime.timedelta(minutes=60),
    tags=["example"],
    params={"example_key": "example_value"},
) as dag:
    run_this_last = EmptyOperator(task_id="run_this_last")
    run_this = BashOperator(
        task_id="run_after_loop", bash_command="echo https://airflow.apache.org/"
    )
    run_this >> run_this_last
    for i in range(3):
        task = BashOperator(
            task_id=f"runme_{i}",
            bash_command="echo {{ task.task_id }} {{ ds }} && sleep 1",
        )
        task >> run_this
    also_run_this = BashOperator(
        task_id="also_run_this",
        bash_command="echo run_id={{ run_id }}",
    )
    also_run_this >> run_this_last
    this_will_skip = BashOperator(
        task_id="this_will_skip", bash_command='echo "hello world"; exit 99;'
    )
    this_will_skip >> run_this_last
