"""Reading a DeepChem-layout multi-task CSV: ``smiles``, optional ``mol_id``, one column per task.

Columns are found by name, in any order; every column other than ``smiles`` and
``mol_id`` is a task. Labels are 0, 1 or blank (missing, stored as NaN).

Whatever is wrong with a file (unreadable, damaged gzip, not UTF-8, empty, a row
with more or fewer cells than the header, a duplicated column, a bad label) is one
``ValueError`` naming the file and, where there is one, the line and the column.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .subsets import check_n_tasks

SMILES_COLUMN = "smiles"
ID_COLUMN = "mol_id"
_MISSING = ["", "nan", "NaN", "NA", "N/A"]
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class TaskTable:
    """What a multi-task CSV holds, before featurisation."""

    smiles: list[str]
    mol_ids: list[str] | None
    task_names: list[str]
    labels: np.ndarray  # float32 [N, T], NaN = missing


def read_header(path: str | os.PathLike) -> tuple[str, str | None, list[str]]:
    """(smiles column, mol_id column or None, task columns in file order) of a CSV; reads its first line only."""
    path = _existing(path)
    with _reading(path):
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rb") as stream:
            first_line = stream.readline()
    return _roles(path, _header(path, first_line))


def read_task_csv(
    path: str | os.PathLike, n_tasks: int | None = None, task_names: Sequence[str] | None = None
) -> TaskTable:
    """Read ``path`` (plain or gzipped, whatever its name). ``n_tasks=K`` keeps the first K task columns.

    ``task_names`` demands exactly these task columns and returns them in this order
    (e.g. PCBA's 128 tasks); a file missing some is an error naming them.
    """
    path = _existing(path)
    with _reading(path):
        data = path.read_bytes()
        if data.startswith(_GZIP_MAGIC):
            data = gzip.decompress(data)
    if b"\n" not in data:  # classic Mac line ends (a bare CR), which pandas reads too
        data = data.replace(b"\r", b"\n")
    try:
        columns = _header(path, data[: data.find(b"\n") + 1 or len(data)])
        smiles_col, id_col, tasks = _roles(path, columns)
        if task_names is not None:
            tasks = match_task_names(path, tasks, task_names)
        tasks = tasks[: check_n_tasks(str(path), n_tasks, len(tasks))]
        lines = _data_lines(path, data, len(columns))
        keep = [smiles_col] + ([id_col] if id_col else []) + tasks
        frame = pd.read_csv(
            io.BytesIO(data),
            header=0,
            names=columns,
            usecols=keep,
            dtype={smiles_col: str, **({id_col: str} if id_col else {})},
            keep_default_na=False,
            na_values={task: _MISSING for task in tasks},
        )
    except UnicodeDecodeError as error:
        raise _not_utf8(path, data) from error
    except pd.errors.ParserError as error:  # e.g. a quoted cell never closed
        raise ValueError(f"{path}: not a readable CSV ({str(error).strip().splitlines()[-1]})") from None
    labels = np.empty((len(frame), len(tasks)), dtype=np.float32)
    for j, task in enumerate(tasks):
        labels[:, j] = _labels(path, task, frame[task], lines)
    return TaskTable(
        smiles=frame[smiles_col].fillna("").str.strip().tolist(),
        mol_ids=frame[id_col].tolist() if id_col else None,
        task_names=tasks,
        labels=labels,
    )


def match_task_names(path: str | os.PathLike, found: Sequence[str], expected: Sequence[str]) -> list[str]:
    """``expected`` when ``found`` holds exactly those task columns (any order), else an error naming the difference."""
    expected = list(expected)
    missing = [t for t in expected if t not in found]
    extra = [t for t in found if t not in expected]
    if missing or extra:
        parts = [f"missing {len(missing)}: {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {len(extra)}: {', '.join(extra)}"] if extra else []
        raise ValueError(f"{path}: task columns do not match the expected {len(expected)} tasks ({'; '.join(parts)})")
    return expected


# --- the file -----------------------------------------------------------------------------------


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"{path}: {'a directory, not a file' if path.is_dir() else 'no such file'}")
    return path


def _is_gzip(path: Path) -> bool:
    with _reading(path), open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Reading ``path``: a damaged gzip stream or an OS error becomes one ValueError naming the file."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:  # BadGzipFile before OSError: it is one
        raise ValueError(f"{path}: damaged gzip file ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error.strerror or error})") from None


def _not_utf8(path: Path, data: bytes) -> ValueError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return ValueError(f"{path}: line {line} is not UTF-8 text (byte {data[error.start]:#04x})")
    return ValueError(f"{path}: not UTF-8 text")


# --- header and rows ----------------------------------------------------------------------------


def _header(path: Path, first_line: bytes) -> list[str]:
    """The column names of the first line; blank, unnamed or repeated names are errors."""
    text = first_line.decode("utf-8-sig").strip()  # UnicodeDecodeError: the caller names the line
    text = text.splitlines()[0] if text else text  # a bare-CR file is one "line" to readline
    if not text:
        raise ValueError(f"{path}: {'the first line (the header) is blank' if first_line else 'empty file'}")
    try:
        columns = next(csv.reader([text]))
    except csv.Error as error:
        raise ValueError(f"{path}: line 1 (the header): {error}") from None
    for k, name in enumerate(columns):
        if not name.strip():
            raise ValueError(f"{path}: column {k + 1} of the header has no name")
        if name in columns[:k]:
            raise ValueError(f"{path}: column {name!r} appears twice in the header")
    return columns


def _roles(path: Path, columns: list[str]) -> tuple[str, str | None, list[str]]:
    smiles_col, id_col = _find(columns, SMILES_COLUMN), _find(columns, ID_COLUMN)
    if smiles_col is None:
        shown = ", ".join(columns[:8]) + (" ..." if len(columns) > 8 else "")
        raise ValueError(f"{path}: no 'smiles' column (found: {shown})")
    tasks = [c for c in columns if c not in (smiles_col, id_col)]
    if not tasks:
        raise ValueError(f"{path}: no task columns (only {', '.join(columns)})")
    return smiles_col, id_col, tasks


def _find(columns: Sequence[str], name: str) -> str | None:
    """The column called ``name`` (exact, else ignoring case and surrounding spaces)."""
    if name in columns:
        return name
    return next((c for c in columns if c.strip().lower() == name), None)


def _data_lines(path: Path, data: bytes, n_columns: int) -> np.ndarray:
    """The line number of every data row, after checking each has ``n_columns`` cells.

    Blank lines are skipped, as pandas skips them. Cells are counted from the commas
    of each line (vectorised: the C parser itself silently pads short rows and, with
    ``usecols``, truncates long ones); a file with quotes goes through the csv module.
    """
    if b'"' in data:
        return _data_lines_quoted(path, data, n_columns)
    buffer = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(buffer == ord("\n")) + 1))
    if starts[-1] == len(data):  # the file ends with a newline: no line after it
        starts = starts[:-1]
    commas = (buffer == ord(",")).view(np.uint8)  # uint8 summed as int32: 1.6x faster than bool as int64
    cells = np.add.reduceat(commas, starts, dtype=np.int32) + 1
    ends = np.append(starts[1:], len(data))
    odd = np.flatnonzero(cells != n_columns)
    blank = [i for i in odd if not data[starts[i] : ends[i]].strip()]
    malformed = np.setdiff1d(odd, blank)
    if len(malformed):
        first = int(malformed[0])
        raise _row_length_error(path, first + 1, int(cells[first]), n_columns)
    lines = np.delete(np.arange(1, len(starts) + 1), blank)[1:]  # [1:]: the header
    return _some_rows(path, lines)


def _data_lines_quoted(path: Path, data: bytes, n_columns: int) -> np.ndarray:
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""))
    lines = []
    try:
        next(reader)
        for row in reader:
            if len(row) <= 1 and not "".join(row).strip():
                continue
            if len(row) != n_columns:
                raise _row_length_error(path, reader.line_num, len(row), n_columns)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise ValueError(f"{path}: line {reader.line_num}: {error}") from None
    return _some_rows(path, np.array(lines, dtype=np.int64))


def _row_length_error(path: Path, line: int, cells: int, n_columns: int) -> ValueError:
    return ValueError(f"{path}: line {line} has {cells} cell{'s' * (cells != 1)}, the header has {n_columns}")


def _some_rows(path: Path, lines: np.ndarray) -> np.ndarray:
    if len(lines) == 0:
        raise ValueError(f"{path}: no data rows, only a header")
    return lines


def _labels(path: Path, task: str, column: pd.Series, lines: np.ndarray) -> np.ndarray:
    """The column as float 0/1/NaN; anything else is an error naming the column, the line and the value."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isnan(values) | (values == 0) | (values == 1)) | (np.isnan(values) & column.notna().to_numpy())
    if bad.any():
        row = int(np.argmax(bad))
        example = column.iloc[row]
        shown = f"{example:g}" if isinstance(example, (int, float, np.number)) else str(example)
        raise ValueError(
            f"{path}: column {task!r} has a label {shown!r} on line {lines[row]}; labels must be 0, 1 or blank"
        )
    return values
