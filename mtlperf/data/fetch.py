"""Downloading DeepChem's PCBA-128 file into the cache, verified before it is put in place."""

from __future__ import annotations

import gzip
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .cache import cache_dir as resolve_cache_dir
from .cache import file_digest
from .csv_loader import match_task_names, read_header
from .pcba import PCBA_FILENAME, pcba_task_names

DEFAULT_URL = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/pcba.csv.gz"
_BLOCK = 1 << 20


class FetchError(OSError):
    """The download failed or the file it gave is not the PCBA file."""


def fetch_pcba(
    cache_dir: str | os.PathLike | None = None,
    url: str = DEFAULT_URL,
    sha256: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Download ``url`` to ``<cache>/pcba.csv.gz`` and return its path.

    The bytes go to a temporary file in the cache dir, which is verified
    (:func:`verify_pcba_file`) and only then renamed into place, so an interrupted or
    bad download never leaves a ``pcba.csv.gz``. A verified file already there is kept
    unless ``force``.
    """
    target = resolve_cache_dir(cache_dir) / PCBA_FILENAME
    if target.is_file() and not force:
        verify_pcba_file(target, sha256)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{PCBA_FILENAME}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            _download(url, handle, timeout, progress)
        verify_pcba_file(tmp, sha256, label=url)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _download(url: str, handle, timeout: float, progress: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=PCBA_FILENAME, disable=not progress) as bar:
                for block in iter(lambda: response.read(_BLOCK), b""):
                    handle.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as error:
        raise FetchError(f"could not download {url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(
            f"could not download {url}: {reason} (no network? copy pcba.csv.gz into the cache dir by hand instead)"
        ) from None


def verify_pcba_file(path: str | os.PathLike, sha256: str | None = None, label: str | None = None) -> None:
    """Raise :class:`FetchError` unless ``path`` matches ``sha256`` (if given), is a complete gzip
    stream, and has a ``smiles`` column and all 128 PCBA task columns."""
    label = label or str(path)
    if sha256 is not None:
        actual = file_digest(path)
        if actual != sha256.lower():
            raise FetchError(f"{label}: sha256 mismatch: expected {sha256.lower()}, got {actual}")
    try:
        with gzip.open(path, "rb") as stream:  # reading to the end checks the gzip CRC
            while stream.read(_BLOCK):
                pass
    except (OSError, EOFError) as error:
        raise FetchError(f"{label}: not a complete gzip file ({error})") from None
    try:
        _, _, tasks = read_header(path)
        match_task_names(path, tasks, pcba_task_names())
    except ValueError as error:
        raise FetchError(f"{label}: not a PCBA-128 file: {error}") from None
