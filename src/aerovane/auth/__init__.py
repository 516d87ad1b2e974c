"""Authentication and authorization: password hashing, users and roles, API auth backends."""
