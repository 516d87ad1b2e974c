"""Aerovane's own log lines: setup, JSON format, request ids and the context they carry.

`setup` configures the root logger of a component process (text by default, one JSON object per
line with `[logging] json_format`), always through the secrets masker; `context` holds what is
known about the work in hand (request id, dag_id, run_id, task_id) for every line logged while
it is; `request_id` is the ASGI middleware that gives each HTTP request its id. Task attempts'
own logs are the runtime's (`runtime/task_log.py`), not this package's. This package reads
settings and the masker; it must not import `db`, `services` or anything above them.
"""
