"""Where downloaded files and computed features live, and how they are written safely."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes

CACHE_ENV = "MTLPERF_CACHE"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``override``, else ``$MTLPERF_CACHE``, else ``~/.cache/mtlperf`` (not created here)."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mtlperf"


def strings_digest(strings: Iterable[str]) -> str:
    """SHA-256 of the strings in order (a newline ends each one), in hex."""
    digest = hashlib.sha256()
    for text in strings:
        digest.update(text.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` written atomically (see :func:`mtlperf.io.atomic_write_bytes`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())
