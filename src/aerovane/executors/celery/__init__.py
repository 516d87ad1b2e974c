"""The Celery executor: task attempts travel as messages over a broker to `aerovane celery
worker` processes on any host, which fork them from a zygote of their own (docs/decisions/0024).

`app` builds the Celery application from `[celery]`; `executor` is the scheduler's side;
`worker` the worker's; `log_server` serves a worker's task logs to the API.
"""
