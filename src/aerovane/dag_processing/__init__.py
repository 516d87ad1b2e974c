"""DAG processing: finding DAG files, importing each in an isolated process with a time limit,
and storing serialized DAGs and import errors so nothing else imports user code."""
