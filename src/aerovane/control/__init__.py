"""The environment control plane: Cloud Composer's `environments` resource for the environment
this installation runs, its long-running operations, live configuration changes and the Airflow
Commands API (`environments run`).

Modules:
- `live`: applying an environment's configuration to a running process (`ConfigWatcher`).
  Depends only on `config` and `db`, so the scheduler and task processes may import it.
- `environments`, `updates`, `operations`, `commands`, `audit`: domain functions over a
  session (they never commit one they are handed).
- `access`, `errors`, `routes`: the HTTP face (`routes.router`, served by the API app).

Importing this package imports nothing else, so `aerovane.control.live` stays cheap.
"""
