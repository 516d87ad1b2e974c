"""What happens inside one task attempt's process: claim the task instance, load the DAG file,
render templates, run the operator under its timeout, and record state, XCom and the log.

This is the only place besides DAG parsing that runs user code, and it always runs in a process
of its own. The API server never imports it.
"""
