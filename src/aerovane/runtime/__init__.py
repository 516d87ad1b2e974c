"""What happens inside one task attempt's process: claim the task instance, load the DAG file,
render templates, run the operator under its timeout, and record state, XCom and the log.

This is the only place besides DAG parsing that runs user code: in a process of its own, or,
for `dag.test()` / `aerovane dags test` (`dag_test`), one task after another in the calling
process. The API server never imports it.
"""
