"""Import error responses."""

from __future__ import annotations

from typing import Any

from aerovane.api.v1.datamodels.common import StrictModel, iso


class ImportErrorResponse(StrictModel):
    import_error_id: int
    timestamp: str
    filename: str
    stack_trace: str


class ImportErrorCollectionResponse(StrictModel):
    import_errors: list[ImportErrorResponse]
    total_entries: int


def import_error_to_dict(row: Any, stack_trace: str) -> dict[str, Any]:
    """An `import_error` row as an ImportError, with the stack trace the caller may see."""
    return {
        "import_error_id": row.id,
        "timestamp": iso(row.timestamp),
        "filename": row.filename,
        "stack_trace": stack_trace,
    }
