"""Trigger a DAG when an object lands in a bucket: a background cloud function, Composer style.

Deploy it as a function triggered by `google.storage.object.finalize` (or call it from any
watcher of your own): it gets the storage-object event as `data` and triggers
`composer_sample_trigger_response_dag` through the identity-aware proxy, with the event as the
run's `conf`. The DAG prints it.

Configuration (environment variables):
- `AIRFLOW_WEB_SERVER_URL` (required): the web server, i.e. the proxy. Find it with
  `aerovane environments describe aerovane --location local --format="value(config.airflowUri)"`.
- `DAG_ID`: default `composer_sample_trigger_response_dag`.
- `IAP_CLIENT_ID`: send an ID token for this OAuth client id (Composer 1's IAP style; get it
  with `aerovane.client.get_client_id`). Without it an access token is sent (Composer 2 style).
- `USE_EXPERIMENTAL_API=true`: POST to `/api/experimental/dags/<id>/dag_runs` instead of the
  stable `/api/v1/dags/<id>/dagRuns` (the environment needs `api-enable_experimental_api`).
- Credentials are google-auth's: `GOOGLE_APPLICATION_CREDENTIALS` naming a service-account key
  file, or the metadata server. The service account needs access through the proxy (`[proxy]
  allowed_members`) and an Airflow role that may trigger DAGs (Composer's auth backend registers
  it with `[api] composer_auth_user_registration_role`, Op by default).

Try it locally with a made-up event:
    AIRFLOW_WEB_SERVER_URL=http://localhost:8080 GOOGLE_APPLICATION_CREDENTIALS=key.json \\
        python examples/trigger_response_function.py my-bucket path/to/object.csv
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import uuid
from typing import Any

from aerovane.client import trigger_dag

DEFAULT_DAG_ID = "composer_sample_trigger_response_dag"


def trigger_dag_gcf(data: dict[str, Any], context: Any = None) -> str:
    """Trigger the DAG with the event's data as its conf; returns the API's answer.

    `data` is the storage object (bucket, name, metageneration, timeCreated, updated, ...);
    `context` carries event_id, event_type, timestamp and resource (unused here).
    """
    web_server_url = os.environ["AIRFLOW_WEB_SERVER_URL"]
    dag_id = os.environ.get("DAG_ID", DEFAULT_DAG_ID)
    client_id = os.environ.get("IAP_CLIENT_ID") or None
    experimental = os.environ.get("USE_EXPERIMENTAL_API", "").lower() in ("1", "true", "yes")
    return trigger_dag(
        web_server_url, dag_id, data, client_id=client_id, use_experimental_api=experimental
    )


def _event(bucket: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = {
        "bucket": bucket,
        "name": name,
        "metageneration": "1",
        "timeCreated": now,
        "updated": now,
    }
    context = {
        "event_id": uuid.uuid4().hex,
        "event_type": "google.storage.object.finalize",
        "timestamp": now,
        "resource": {"service": "storage.googleapis.com", "name": f"{bucket}/{name}"},
    }
    return data, context


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: trigger_response_function.py BUCKET OBJECT_NAME")
    print(trigger_dag_gcf(*_event(sys.argv[1], sys.argv[2])))
