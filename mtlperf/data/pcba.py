"""PubChem BioAssay PCBA-128: its task names and statistics (embedded), and where the user's file is.

The 437,929-molecule file is not shipped; :func:`mtlperf.data.fetch.fetch_pcba` downloads it
into the cache dir, where :func:`find_pcba_file` looks for it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .cache import cache_dir

EMBEDDED = Path(__file__).resolve().parent / "embedded"
PCBA_FILENAME = "pcba.csv.gz"


@lru_cache(maxsize=1)
def pcba_task_names() -> tuple[str, ...]:
    """The 128 PCBA task names in DeepChem's column order."""
    return tuple(line.strip() for line in (EMBEDDED / "pcba_tasks.txt").read_text().splitlines() if line.strip())


def pcba_task_stats() -> tuple[np.ndarray, np.ndarray]:
    """Per task, in :func:`pcba_task_names` order: (positive fraction of the labelled molecules, missing fraction).

    Published statistics of the real PCBA-128 (mean missing 39.4%; pooled positive rate 1.4%).
    """
    rows = [line.split("\t") for line in (EMBEDDED / "pcba_task_stats.tsv").read_text().splitlines()[1:] if line]
    stats = {name: (float(pos), float(missing)) for name, pos, missing in rows}
    table = np.array([stats[name] for name in pcba_task_names()], dtype=np.float64) / 100.0
    return table[:, 0], table[:, 1]


def find_pcba_file(path: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> Path:
    """``path`` if given, else ``pcba.csv.gz`` in the cache dir; a clear error when it is not there."""
    candidate = Path(path).expanduser() if path is not None else cache_dir(cache) / PCBA_FILENAME
    if not candidate.is_file():
        raise ValueError(
            f"PCBA file not found at {candidate}; download it with mtlperf.data.fetch_pcba() "
            f"(into $MTLPERF_CACHE or ~/.cache/mtlperf) or pass path= to a DeepChem pcba.csv.gz"
        )
    return candidate
