"""Domain operations over a session, shared by the API, the CLI, the scheduler and tasks.

Functions here take `session` keyword-only and never commit it; errors are the exceptions in
`aerovane.services.errors`, which the API maps to HTTP and the CLI to one-line messages.
"""
