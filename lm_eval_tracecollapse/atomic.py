"""One file written whole: a temporary file beside it, then a rename.

A reader in another process (a data-parallel rank wrapping the same task, a second run
sharing the cache, a browser reloading the page) sees the old file or the new one, never
half of it.  The study's completion markers use the durable form,
``study._io.atomic_text`` (fsync, and a fresh temporary name per write).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.yaml"
    >>> write_text_atomic(path, "task: a\\n")
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('task: a\\n', ['a.yaml'])
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``.<name>.<pid>.tmp`` in its folder and a
    rename; the temporary file goes if the write fails."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as :func:`write_text_atomic` writes text."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
