"""Test accuracy of every method at 32 -> 128 tasks on ToxCast, tracked over commits beside the step time.

One ``short``-preset sweep (:func:`mtlperf.accuracy.accuracy_sweep`, seed 0) trains everything
once in ``setup_cache``; the ``track_`` methods read its numbers (asv: larger is better).
"""

from __future__ import annotations

from mtlperf.accuracy import SWEEP_SPECS, accuracy_sweep

from . import matrix as bench
from .common import skip_unless_selected


class Accuracy:
    params = (list(SWEEP_SPECS), list(bench.TASKS))
    param_names = ["method", "n_tasks"]
    timeout = 7200  # the whole sweep trains in setup_cache

    def setup_cache(self):
        # asv runs this in a scratch directory: the runs it writes are thrown away with it
        methods = [spec for spec in SWEEP_SPECS if spec in bench.methods()]
        if not methods:
            return {}
        summary = accuracy_sweep(
            "toxcast",
            bench.tasks(),
            1,
            "accuracy-runs",
            methods=methods,
            preset="short",
            device=str(bench.device()),
            progress=False,
        )
        return {(r["method"], r["n_tasks"]): r for r in summary["results"]}

    def setup(self, results, method, n_tasks):
        skip_unless_selected(method, n_tasks)

    def track_mean_pr_auc(self, results, method, n_tasks):
        return _score(results, method, n_tasks, "mean_pr_auc")

    def track_pooled_ap(self, results, method, n_tasks):
        return _score(results, method, n_tasks, "pooled_pr_auc")

    track_mean_pr_auc.unit = track_pooled_ap.unit = "AP"


def _score(results, method: str, n_tasks: int, metric: str) -> float:
    result = results[method, n_tasks]
    if result["status"] != "ok":
        raise RuntimeError(f"{method} at {n_tasks} tasks did not train: {result['status']}")
    return round(result[metric]["mean"], 4)
