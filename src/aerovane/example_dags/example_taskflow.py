"""TaskFlow: return values travel between tasks through XCom."""

from __future__ import annotations

import datetime
import json

from aerovane.authoring import dag, task


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["example"])
def example_taskflow_etl():
    @task()
    def extract() -> dict:
        return json.loads('{"1001": 301.27, "1002": 433.21, "1003": 502.22}')

    @task(multiple_outputs=True)
    def transform(order_data: dict) -> dict:
        return {"total_order_value": sum(order_data.values())}

    @task()
    def load(total_order_value: float) -> None:
        print(f"Total order value is: {total_order_value:.2f}")

    load(transform(extract())["total_order_value"])


example_taskflow_etl()
