"""Compare two run_ref.py outputs: python3 /tmp/ref/compare.py before.json after.json [--max-fields N]

For each run key: identical iff json.dumps(value, sort_keys=True) is equal. For a differing run,
lists the differing leaf paths (in the result's own order: valid, test, history ...) with abs/rel diff.
Also compares the .meta.json data/split hashes. Exit status 1 if any run differs.
"""

from __future__ import annotations

import json
import math
import sys


def leaves(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def diff_fields(a, b):
    la, lb = dict(leaves(a)), dict(leaves(b))
    order = list(la) + [k for k in lb if k not in la]
    out = []
    for key in order:
        x, y = la.get(key, "<absent>"), lb.get(key, "<absent>")
        if json.dumps(x) == json.dumps(y):
            continue
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            d = abs(x - y)
            rel = d / max(abs(x), abs(y)) if max(abs(x), abs(y)) > 0 else 0.0
            out.append((key, x, y, d, rel))
        else:
            out.append((key, x, y, math.nan, math.nan))
    return out


def main() -> int:
    argv, max_fields = list(sys.argv[1:]), 8
    if "--max-fields" in argv:
        i = argv.index("--max-fields")
        max_fields = int(argv[i + 1])
        del argv[i : i + 2]
    args = argv
    before_path, after_path = args
    before, after = (json.load(open(p)) for p in (before_path, after_path))
    metas = []
    for p in (before_path, after_path):
        try:
            metas.append(json.load(open(p.removesuffix(".json") + ".meta.json")))
        except OSError:
            metas.append({})
    n_diff = 0
    keys = list(before) + [k for k in after if k not in before]
    width = max(len(k) for k in keys)
    print(f"{'run':{width}s}  result")
    for key in keys:
        if key not in before or key not in after:
            print(f"{key:{width}s}  MISSING in {'before' if key not in before else 'after'}")
            n_diff += 1
            continue
        a, b = before[key], after[key]
        notes = []
        for h in ("data_sha", "split_sha"):
            ha, hb = (m.get(key, {}).get(h) for m in metas)
            if ha and hb and ha != hb:
                notes.append(f"{h} {ha}!={hb}")
        if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
            print(f"{key:{width}s}  identical" + (f"  ({'; '.join(notes)})" if notes else ""))
            continue
        n_diff += 1
        fields = diff_fields(a, b)
        worst = max((f[3] for f in fields if not math.isnan(f[3])), default=math.nan)
        print(f"{key:{width}s}  DIFFERS: {len(fields)} field(s), max |diff| {worst:.3g}"
              + (f"  ({'; '.join(notes)})" if notes else ""))
        for path, x, y, d, rel in fields[:max_fields]:
            print(f"{'':{width}s}    {path}: {x!r} vs {y!r}" + ("" if math.isnan(d) else f"  |d|={d:.3g} rel={rel:.3g}"))
        if len(fields) > max_fields:
            print(f"{'':{width}s}    ... {len(fields) - max_fields} more")
    print(f"\n{len(keys) - n_diff}/{len(keys)} runs identical")
    return 1 if n_diff else 0


if __name__ == "__main__":
    sys.exit(main())
