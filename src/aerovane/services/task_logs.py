"""Where task attempt logs live and how they are read back.

Layout: `{base_log_folder}/dag_id=<dag>/run_id=<run>/task_id=<task>/[map_index=<i>/]`
`attempt=<n>.log`.
"""

from __future__ import annotations

from pathlib import Path

from aerovane.config import get_settings


def log_path(dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> Path:
    base = get_settings().base_log_folder
    path = base / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        path = path / f"map_index={map_index}"
    return path / f"attempt={try_number}.log"


def read_log(path: Path, *, offset: int = 0, limit: int | None = None) -> tuple[str, int]:
    """Text from byte `offset` (up to `limit` bytes) and the offset to continue from."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read() if limit is None else fh.read(limit)
    except FileNotFoundError:
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)
