"""The resumable sweep: every method spec trained with every seed's config, one run file each.

A run record is ``{"method", "seed_index", "settings", "status": "ok" | "failed", "result" | "reason"}``,
written atomically to ``RUNS_DIR/<method>__seed<k>.json`` as soon as the run ends. A rerun whose
settings (dataset, task count, featurisation, method, the whole :class:`~mtlperf.config.TrainConfig`) equal a
file's reads that file instead of training again; a run that raises is recorded as failed with
its reason and the sweep goes on (an interrupt stops it: the finished runs are on disk). The
studies (:mod:`mtlperf.reproduce`, :mod:`mtlperf.accuracy`) are built on :func:`run_sweep`.

With a Dask ``client`` (:mod:`mtlperf.cluster`) the unfinished runs are submitted at once, each
runs on a worker with one torch thread, and this process writes each file as its run comes back;
a worker that dies has its run retried on another by the scheduler. Every record says where it
ran (``ran_on``: host, process, worker, threads).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .cluster import current_worker, on_one_thread
from .config import TrainConfig
from .data import MultiTaskDataset
from .data.fingerprints import FINGERPRINT_SETTINGS
from .io import atomic_write_json, json_ready, read_json
from .methods import parse_spec
from .train import TrainingDiverged, check_method, method_hyperparameters, train
from .validation import positive_int

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One run of a sweep: the row it fills (its file's name), its seed, what makes it the same run, how it trains."""

    row: str
    seed_index: int
    settings: dict  # compared, after a JSON round trip, with a finished file's
    train: Callable[[], dict]  # the run's result; raises when it fails


def run_sweep(
    dataset: MultiTaskDataset,
    specs: Sequence[str],
    configs: Sequence[TrainConfig],
    runs_dir: str | os.PathLike,
    *,
    progress: bool = True,
    retry_failed: bool = False,
    client=None,
) -> dict[str, list[dict]]:
    """Train every spec with every config (seed k = ``configs[k]``), seed by seed; spec -> run records.

    Every spec is checked before the first run trains. ``retry_failed``: train again the runs
    recorded as failed instead of keeping their failure. ``client``: a Dask client to run them on.
    """
    if isinstance(specs, str) or not specs or len(set(specs)) != len(specs):
        raise ValueError(f"methods must be a non-empty list of distinct method specs, got {specs!r}")
    for spec in specs:
        name, hyperparameters = parse_spec(spec)
        check_method(name, method_hyperparameters(dataset, name, hyperparameters), dataset.n_tasks)
    jobs = [
        Job(
            spec,
            k,
            run_settings(dataset, spec, configs[k]),
            partial(train, dataset, spec, configs[k], progress=progress),
        )
        for k in range(len(configs))
        for spec in specs
    ]
    return run_jobs(
        jobs, runs_dir, desc=f"{dataset.name} runs", progress=progress, retry_failed=retry_failed, client=client
    )


def run_jobs(
    jobs: Sequence[Job],
    runs_dir: str | os.PathLike,
    *,
    desc: str,
    progress: bool = True,
    retry_failed: bool = False,
    client=None,
) -> dict[str, list[dict]]:
    """Run every job not finished in ``runs_dir`` (``<row>__seed<k>.json``); row -> run records, in job order.

    ``client``: a Dask client; None runs the jobs here, one after another.
    """
    paths = [Path(runs_dir) / f"{run_file_stem(job.row)}__seed{job.seed_index}.json" for job in jobs]
    records = [_finished_run(path, job.settings, retry_failed) for job, path in zip(jobs, paths)]
    todo = [k for k, record in enumerate(records) if record is None]
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, unit="run", disable=not progress) as bar:
        for k, outcome in _outcomes([jobs[k] for k in todo], todo, client):
            record = {"method": jobs[k].row, "seed_index": jobs[k].seed_index, "settings": jobs[k].settings, **outcome}
            records[k] = read_json(atomic_write_json(paths[k], record))  # as a resumed sweep will see it
            bar.update()
            if record["status"] == "failed":
                bar.set_postfix(failed=sum(r is not None and r["status"] == "failed" for r in records))
    runs: dict[str, list[dict]] = {}
    for job, record in zip(jobs, records):
        runs.setdefault(job.row, []).append(record)
    return runs


def _outcomes(jobs: list[Job], keys: list[int], client):
    """(key, outcome) of every job as it finishes: here in order, or on ``client``'s workers as they end."""
    if client is None:
        for key, job in zip(keys, jobs):
            yield key, run_outcome(job)
        return
    from distributed import as_completed

    futures = {client.submit(on_one_thread, run_outcome, job, pure=False): key for key, job in zip(keys, jobs)}
    for future in as_completed(futures):
        yield futures[future], future.result()


def seed_configs(base: TrainConfig, seeds: int) -> list[TrainConfig]:
    """``seeds`` copies of ``base`` with seeds ``base.seed``, ``base.seed + 1``, ..."""
    positive_int(seeds, "seeds")
    return [base.replace(seed=base.seed + k) for k in range(seeds)]


def run_file_stem(spec: str) -> str:
    """A spec as a portable file name: ``gradnorm:alpha=0.1`` -> ``gradnorm_alpha=0.1``."""
    return re.sub(r"[^A-Za-z0-9.=+-]+", "_", spec)


def run_settings(dataset: MultiTaskDataset, spec: str, config: TrainConfig) -> dict:
    """What makes a run the same run (compared after a JSON round trip, as read back from its file)."""
    features = {key: dataset.meta[key] for key in FINGERPRINT_SETTINGS if key in dataset.meta}
    return json_ready(
        {
            "dataset": dataset.name,
            "n_tasks": dataset.n_tasks,
            "features": features,
            "method": spec,
            "config": dataclasses.asdict(config),
        }
    )


def run_outcome(job: Job) -> dict:
    """``{"status": "ok", "result": ...}`` of one training run, or ``{"status": "failed", "reason": ...}``.

    Either way with ``ran_on``: the host, process, Dask worker (None when run in this process) and threads.
    """
    return {**_outcome(job), "ran_on": _ran_on()}


def _ran_on() -> dict:
    worker = current_worker()
    return {
        "host": socket.gethostname(),
        "process": os.getpid(),
        "worker": None if worker is None else worker.address,
        "threads": torch.get_num_threads(),
    }


def _outcome(job: Job) -> dict:
    try:
        return {"status": "ok", "result": job.train()}
    except TrainingDiverged as error:
        reason = f"diverged: {error}"
    except Exception as error:  # noqa: BLE001 - one failing method must not cost the others' results
        reason = f"{type(error).__name__}: {error}"
    logger.warning("%s (seed %d) failed: %s", job.row, job.seed_index, reason)
    return {"status": "failed", "reason": reason}


def finished_results(records: list[dict]) -> list[dict]:
    """The training results of the runs that finished."""
    return [r["result"] for r in records if r["status"] == "ok"]


def failures(records: list[dict]) -> dict[str, str]:
    """Seed index (as a string, the JSON key) -> reason, for the runs that failed."""
    return {str(r["seed_index"]): r["reason"] for r in records if r["status"] == "failed"}


def status(records: list[dict]) -> str:
    """``"ok"`` when one run of a method finished, else ``"failed: <the first reason>"``."""
    return "ok" if finished_results(records) else f"failed: {records[0]['reason']}"


def _finished_run(path: Path, settings: dict, retry_failed: bool) -> dict | None:
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    if record.get("settings") != settings or record.get("status") not in ("ok", "failed"):
        return None
    return None if retry_failed and record["status"] == "failed" else record
