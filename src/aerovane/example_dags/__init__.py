"""Example DAGs, loaded when `[core] load_examples` is True."""
