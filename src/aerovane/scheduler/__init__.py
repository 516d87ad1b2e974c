"""The scheduler: turns DAGs into runs and runs into queued task instances, within limits, and
cleans up after task processes that died. It never imports the API or user code."""
