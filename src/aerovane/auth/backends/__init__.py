"""API auth backends, chosen by `[api] auth_backends` and tried in order."""
