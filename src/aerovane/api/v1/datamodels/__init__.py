"""Request bodies and response shapes of `/api/v1`, as pydantic models named `*Body`,
`*Response` and `*CollectionResponse`, plus the converters from database rows to response
dicts. Handlers build plain dicts (cheaper than model instances on hot list endpoints); the
models document the OpenAPI schema and tests validate real responses against them.
"""
