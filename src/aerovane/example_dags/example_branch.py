"""Branching: one path runs, the other is skipped, and the join still runs."""

from __future__ import annotations

import datetime

from aerovane.authoring import DAG, BranchPythonOperator, EmptyOperator

with DAG(
    dag_id="example_branch_operator",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    branching = BranchPythonOperator(
        task_id="branching",
        python_callable=lambda dag_run: (
            "branch_a" if (dag_run.conf or {}).get("a", True) else "branch_b"
        ),
    )
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    for name in ("branch_a", "branch_b"):
        branching >> EmptyOperator(task_id=name) >> join
