"""The largest ratio of medians between any two A/A runs, per case (run from the repository root)."""

import itertools
import json
import pathlib

here = pathlib.Path(__file__).parent / "pytest-benchmark"
for rounds, pattern in (("30 rounds", "*_r30_*.json"), ("10 rounds", "*_fixed*.json")):
    runs = [json.loads(f.read_text()) for f in sorted(here.glob(pattern))]
    worst = {}
    for case in runs[0]["benchmarks"]:
        medians = [next(c["stats"]["median"] for c in r["benchmarks"] if c["name"] == case["name"]) for r in runs]
        worst[case["name"]] = max(y / x for x, y in itertools.permutations(medians, 2))
    print(f"{rounds}, {len(runs)} runs: largest {max(worst.values()):.2f}x")
    for name, ratio in worst.items():
        print(f"  {name}: {ratio:.2f}x")
