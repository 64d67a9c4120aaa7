"""Writing result files so that an interrupted run never leaves half a file, and checking before a run that it can."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a file a run can write at its end, else a one-line ValueError naming ``option`` and ``path``.

    Checked before any work, so that a run never ends in a failed write: ``path`` must not be
    a directory, and the directory it goes in (made when missing) must be writable.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory; give the path of a file")
    _check_can_create(path.parent, path, option)
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a directory a run can write in (made when missing), else a one-line ValueError naming ``option``."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file, not a directory")
    _check_can_create(path, path, option)
    return path


def _check_can_create(directory: Path, path: Path, option: str) -> None:
    """``directory`` exists and is writable, or can be made: its nearest existing ancestor is a writable directory."""
    existing = next(d for d in (directory, *directory.parents) if d.exists())
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a directory")
    try:  # a real write, not os.access: that says yes to root on a read-only file system
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot write in {existing} ({error.strerror or error})") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename.

    A reader never sees half a file, an interrupted write leaves the old one, and a failed
    one leaves no temporary file; its OSError names ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results and caches are for every user
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from error
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (NaN is written as null)."""
    return atomic_write_text(path, json.dumps(json_ready(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as handle:
        return json.load(handle)


def json_ready(value: Any) -> Any:
    """``value`` as JSON will read it back: str keys, lists for tuples and arrays, None for NaN."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars, tensors
        return json_ready(value.tolist())
    if isinstance(value, float) and value != value:
        return None
    return value
