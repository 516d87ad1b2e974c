"""The ASGI app: `/api/v1` (Airflow 2's stable REST API), its errors as problem+json,
pagination and the auth dependencies. Domain logic lives in `aerovane.services`."""
