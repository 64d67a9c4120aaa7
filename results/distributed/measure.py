"""Serial against --workers 2: the LBTW study on Tox21, wall clock and numbers (run from the repository root).

    python results/distributed/measure.py

Both runs use one torch thread per run (OMP_NUM_THREADS=1 serially; the workers pin one), on this
machine's 2 cores. Writes results/distributed/timing.json and each study's files beside it.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
STUDY = ["mtlperf", "reproduce", "lbtw", "--dataset", "tox21", "--seeds", "1", "--epochs", "3", "--quiet"]


def run(name, *cluster):
    out = HERE / name
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([*STUDY, "--out", str(out), *cluster], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start, json.loads((out / "table1.json").read_text())


serial_s, serial = run("serial")
cluster_s, cluster = run("workers-2", "--workers", "2")
summary = {
    "command": " ".join(STUDY),
    "serial_s": serial_s,
    "workers_2_s": cluster_s,
    "speedup": serial_s / cluster_s,
    "identical_tables": serial["methods"] == cluster["methods"],
    "cpus": os.cpu_count(),
    "python": sys.version.split()[0],
}
(HERE / "timing.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
