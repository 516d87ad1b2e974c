"""Owner-only modes for what Aerovane keeps on disk: `$AEROVANE_HOME`, its config file, logs and
the SQLite database (with its `-wal`, `-shm` and `-journal` files).

Whatever Aerovane creates is 0700 (directories) or 0600 (files), whatever the umask. Files that
already exist and hold secrets (`aerovane.cfg`, the database) are tightened to 0600 when group or
others can read them, with a warning: they are Aerovane's own. Directories that already exist keep
their mode (a home may be shared with a deploying group on purpose, and `AEROVANE_HOME=/tmp/x`
must never make us chmod `/tmp`); a world-accessible one gets a warning. Nothing here reads or
logs a file's content.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: Files SQLite keeps next to a database; it creates them with the database file's mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create `path` (parents as usual) as 0700; an existing directory is only checked."""
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o007:
            log.warning("%s is accessible to other users (mode %o)", path, mode)
        return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        private_dir(path)
        return
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode went through the umask


def create_private_file(path: Path, text: str) -> None:
    """Write a new file that only its owner may read; refuse to follow or reuse an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
    finally:
        if fd != -1:
            os.close(fd)


def tighten_file(path: Path) -> None:
    """Make an existing file that holds secrets owner-only if group or others may read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        os.chmod(path, PRIVATE_FILE)
    except PermissionError:
        log.warning("%s is readable by other users (mode %o) and not ours to change", path, mode)
        return
    log.warning("%s was readable by other users (mode %o); now %o", path, mode, PRIVATE_FILE)


def private_sqlite_file(path: Path) -> None:
    """Before SQLite opens `path`: create it empty as 0600 if missing (SQLite then gives its
    companion files the same mode), else tighten it and any companions already there."""
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
            tighten_file(candidate)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
