"""Reference training runs for comparing two mtlperf checkouts bit for bit.

Usage (from a checkout):
    cd <checkout> && PYTHONPATH=<checkout> python3 /tmp/ref/run_ref.py <out.json> "<spec1;spec2;...>"

A spec is GROUP:METHOD_SPEC, e.g. "short:gradnorm:implementation=loop", "lbtw:rmtl-per-task",
"mtr:slaw". GROUP is one of RUN_GROUPS below (dataset + preset + overrides). METHOD_SPEC uses the
AFTER names; "rmtl-per-task" is mapped to "rmtl" (no task) on the old API. The spec "ALL" expands
to DEFAULT_SPECS (the brief's 20 runs), "EXTRA" to EXTRA_SPECS (DWA coverage). Writes <out.json> = {spec: numeric result} (compared) and <out>.meta.json =
{spec: non-numeric/informational fields: method string, config, seconds, data/split hashes}.

Environment: REF_THREADS (torch threads, default 1) -- keep it the same for both checkouts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import traceback

import numpy as np
import torch

import mtlperf
import mtlperf.train as T
from mtlperf.data import load_dataset

# --- API adapter: which side of the refactor is this checkout? -------------------------------------
NEW_API = hasattr(T, "RMTL_PER_TASK")  # AFTER: rmtl-per-task strategy, config in mtlperf.config
if NEW_API:
    from mtlperf.config import PRESETS
else:
    from mtlperf.train import PRESETS


def method_for_checkout(spec: str) -> str:
    """AFTER's method spelling -> this checkout's."""
    name, _, rest = spec.partition(":")
    if name == "rmtl-per-task" and not NEW_API:
        return "rmtl" + (":" + rest if rest else "")  # BEFORE: rmtl without task = one run per task
    return spec


# --- the runs ----------------------------------------------------------------------------------------
MTR_STEPS = 60
MTR_BATCHES_PER_EPOCH = math.ceil(9000 / PRESETS["slaw-mtregression"].batch_size)  # 30
RUN_GROUPS = {
    # PRESETS["short"] (mtlperf's own minutes-long protocol), 2 epochs, ~3000 rows
    "short": ("tox21", "short", dict(epochs=2, max_rows=3000)),
    # the same with 3 epochs: DWA (epoch mode) only starts weighting in epoch 3
    "short3": ("tox21", "short", dict(epochs=3, max_rows=3000)),
    # the LBTW paper preset with a small network
    "lbtw": ("tox21", "lbtw", dict(hidden=(64, 32), epochs=2, max_rows=2000)),
    # MTRegression with the SLAW preset, 60 steps (as reproduce_mtregression sets steps)
    "mtr": (
        "mtregression",
        "slaw-mtregression",
        dict(max_steps=MTR_STEPS, epochs=math.ceil(MTR_STEPS / MTR_BATCHES_PER_EPOCH)),
    ),
}
COMMON = dict(seed=0, device="cpu")

DEFAULT_SPECS = [
    *(
        f"short:{m}"
        for m in (
            "constant", "lbtw", "slaw", "dwa", "uncertainty", "gradnorm", "gradnorm:implementation=loop",
            "pcgrad", "rmtl:task=2", "stl", "finetune", "rmtl-per-task",
        )
    ),
    *(f"lbtw:{m}" for m in ("constant", "lbtw", "rmtl-per-task")),
    *(f"mtr:{m}" for m in ("gradnorm", "pcgrad", "uncertainty", "slaw", "ideal-constant")),
]

# not in the brief's list: DWA's weighting is never reached by "short:dwa" (2 epochs -> weights stay 1)
EXTRA_SPECS = ["short3:dwa", "short:dwa:mode=step"]

DROP = {"seconds", "config", "torch", "device", "device_name", "method", "dataset", "task_names"}


def numeric(value):
    """The numeric skeleton of a result: dicts/lists kept, numbers/bools/None kept, strings dropped."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str):
                continue
            out[str(k)] = numeric(v)
        return out
    if isinstance(value, (list, tuple)):
        return [numeric(v) for v in value if not isinstance(v, str)]
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        return numeric(value.tolist())
    return value


def sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def data_hash(dataset) -> str:
    inputs = dataset.inputs
    parts = [inputs.indptr, inputs.indices] if hasattr(inputs, "indptr") else [np.asarray(inputs)]
    return sha(*parts, dataset.labels)


_DATA: dict = {}


def dataset_for(name: str):
    if name not in _DATA:
        options = {"cache": False} if name != "mtregression" else {}  # featurise afresh: no shared cache
        _DATA[name] = load_dataset(name, **options)
    return _DATA[name]


def expand(specs: str) -> list[str]:
    out = []
    for spec in (s.strip() for s in specs.split(";")):
        if not spec:
            continue
        out.extend(DEFAULT_SPECS if spec == "ALL" else EXTRA_SPECS if spec == "EXTRA" else [spec])
    return out


def main() -> None:
    out_path, specs = sys.argv[1], expand(sys.argv[2] if len(sys.argv) > 2 else "ALL")
    threads = int(os.environ.get("REF_THREADS", "1"))
    torch.set_num_threads(threads)
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(mtlperf.__file__)))
    if os.path.abspath(os.getcwd()) != checkout:
        sys.exit(f"mtlperf imported from {checkout}, not from the current directory {os.getcwd()}")
    print(f"mtlperf from {checkout}; API {'AFTER (new)' if NEW_API else 'BEFORE (old)'}; torch "
          f"{torch.__version__}, {threads} thread(s)", flush=True)
    results, meta = {}, {"_env": {"checkout": checkout, "new_api": NEW_API, "torch": torch.__version__,
                                  "numpy": np.__version__, "threads": threads}}
    meta_path = out_path.removesuffix(".json") + ".meta.json"
    for spec in specs:
        group, _, method = spec.partition(":")
        if group not in RUN_GROUPS or not method:
            sys.exit(f"bad spec {spec!r}: expected GROUP:METHOD with GROUP in {', '.join(RUN_GROUPS)}")
        data_name, preset, overrides = RUN_GROUPS[group]
        config = PRESETS[preset].replace(**overrides, **COMMON)
        dataset = dataset_for(data_name)
        split = T.make_split(dataset, config)
        local = method_for_checkout(method)
        started = time.perf_counter()
        try:
            result = T.train(dataset, local, config, progress=False)
            results[spec] = numeric({k: v for k, v in result.items() if k not in DROP})
            info = {k: result.get(k) for k in ("method", "config", "seconds", "torch", "device")}
        except Exception as error:  # keep going; the comparison shows the error
            results[spec] = {"error": f"{type(error).__name__}: {error}"}
            info = {"traceback": traceback.format_exc()}
        info.update(method_here=local, data_sha=data_hash(dataset), split_sha=sha(split.train, split.valid, split.test),
                    wall=time.perf_counter() - started)
        meta[spec] = info
        print(f"{spec:45s} -> {local:30s} {info['wall']:7.1f}s "
              f"{'ERROR ' + results[spec]['error'] if 'error' in results[spec] else ''}", flush=True)
        with open(out_path, "w") as f:  # after every run: partial results survive
            json.dump(results, f, indent=1, sort_keys=True)
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
