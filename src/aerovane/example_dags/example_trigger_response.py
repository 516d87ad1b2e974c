"""Shaped like Cloud Composer's trigger-response sample: no schedule, run only when triggered
(by the REST API, a cloud function, the CLI), printing the run's `conf`.

It is unpaused on creation so a trigger runs at once; having no schedule, it never runs by
itself.
"""

from __future__ import annotations

import datetime

from aerovane.authoring import DAG, BashOperator

with DAG(
    dag_id="composer_sample_trigger_response_dag",
    start_date=datetime.datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    is_paused_upon_creation=False,
    tags=["example"],
    description="Prints the conf it was triggered with.",
) as dag:
    print_gcs_info = BashOperator(
        task_id="print_gcs_info",
        bash_command="echo {{ dag_run.conf }}",
    )
