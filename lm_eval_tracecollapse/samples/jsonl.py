"""Reading JSONL files line by line, with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def loads_line(raw: bytes | str) -> Any:
    """One JSON line; every way it can be broken (bad JSON, bad encoding, nested too
    deeply) is a ValueError with a short reason.

    >>> loads_line(b'{"a": 1}')
    {'a': 1}
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text (a binary file?)") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def iter_jsonl(path: str | Path, who: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of ``path``.

    Raises:
        ValueError: ``"<who>: <path>:<line>: ..."`` for a line that is not a JSON object.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n')
    >>> list(iter_jsonl(p, "demo"))
    [(1, {'a': 1}), (3, {'a': 2})]
    >>> _ = p.write_text("[" * 100_000)
    >>> list(iter_jsonl(p, "demo"))
    Traceback (most recent call last):
    ValueError: demo: ...x.jsonl:1: JSON nested too deeply
    """
    with Path(path).open("rb") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = loads_line(line)
            except ValueError as exc:
                raise ValueError(f"{who}: {path}:{no}: {exc}") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{who}: {path}:{no}: expected a JSON object, got {type(rec).__name__}")
            yield no, rec
