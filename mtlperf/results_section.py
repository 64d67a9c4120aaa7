"""The README's Results section, rendered from the files in ``results/`` and nothing else.

``mtlperf report`` writes it between :data:`BEGIN` and :data:`END`; ``mtlperf report --check``
(and the test suite) fails when the README's text differs from what the files give. Every number
in the section is read from a result file, and each study's command is rebuilt from the settings
its file records, so the command shown is the one that wrote the numbers beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .accuracy import SWEEP_SPECS
from .config import PRESETS
from .data.fingerprints import DEFAULT_N_BITS, DEFAULT_RADIUS
from .gate import NOISE_Z
from .reports import lbtw_markdown, mtregression_markdown, sgnn_ebm_markdown
from .reproduce import LBTW_FINGERPRINTS

BEGIN = "<!-- results: begin. Rendered by `mtlperf report` from results/; edit the files or the renderer. -->"
END = "<!-- results: end -->"

SCALING = "scaling-cpu-1024"
SCALING_LOSS_ONLY = "scaling-loss-only"
BASELINES = {"Tox21": "accuracy/tox21", "ToxCast": "accuracy/toxcast-128"}
BEYOND_PAPERS = {"Tox21": "accuracy/tox21-beyond-papers", "ToxCast": "accuracy/toxcast-128-beyond-papers"}
ACCURACY_VS_TASKS = "accuracy-toxcast"
MTREGRESSION = "mtregression"
LBTW = "lbtw-tox21"
SGNN_EBM = ("sgnn-ebm/tox21", "sgnn-ebm/toxcast-dense50")
SGNN_EBM_PRESET = "sgnn-ebm-cpu"
GATE_CALIBRATIONS = ("gate-calibration", "gate-calibration-1.3x")
LOSS_ONLY = ("lbtw", "slaw", "dwa", "uncertainty")
MEMORY_LIMIT_MIB = 2048  # the scaling target: peak memory of the default implementations at 128 tasks


def render(results: str | Path = "results") -> str:
    """The Results section (without its markers) from the files under ``results``."""
    results = Path(results)
    parts = [
        _intro(_read(results / SCALING / "scaling.json")),
        _scaling(results),
        _gate_calibration(results),
        "### Accuracy",
        _baselines(results),
        _beyond_papers(results),
        _accuracy_vs_tasks(results),
        _mtregression(results),
        _lbtw(results),
        _sgnn_ebm(results),
    ]
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def replace_section(readme_text: str, section: str) -> str:
    """``readme_text`` with the text between the markers replaced by ``section``."""
    start, end = readme_text.find(BEGIN), readme_text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no results markers; put {BEGIN!r} and {END!r} where the section goes")
    return readme_text[: start + len(BEGIN)] + "\n" + section + readme_text[end:]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: result file missing; the README's Results section is rendered from it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON result file ({error})") from None


def _intro(scaling: dict) -> str:
    return (
        f"Measured on {scaling['device_name']} ({scaling['device']}), torch {scaling['torch']}, as each file records. "
        "Timing ratios come from one run each; the files beside them hold every number. This section is "
        "rendered from `results/` by `mtlperf report` (the tests fail when it and the files disagree)."
    )


# --- step time -------------------------------------------------------------------------------------


def _scaling_command(scaling: dict, out: str) -> str:
    labels = list(dict.fromkeys(r["method"] for r in scaling["results"] if r["method"] != "constant"))
    tasks = sorted({r["n_tasks"] for r in scaling["results"]})
    return (
        f'mtlperf scaling --methods "{";".join(labels)}" --tasks {",".join(map(str, tasks))} '
        f"--batch-size {scaling['batch_size']} --steps {scaling['steps']} --warmup {scaling['warmup']} "
        f"--device {scaling['device']} --out results/{out}"
    )


def _by_label(scaling: dict, n_tasks: int) -> dict[str, dict]:
    return {r["method"]: r for r in scaling["results"] if r["n_tasks"] == n_tasks}


def _scaling(results: Path) -> str:
    full = _read(results / SCALING / "scaling.json")
    loss_only = _read(results / SCALING_LOSS_ONLY / "scaling.json")
    at = _by_label(full, 128)
    quiet = _by_label(loss_only, 128)

    def ms(label: str) -> float:
        return _ms_of(at[label])

    def ratios(rows: dict) -> tuple[float, float]:
        values = [rows[m]["ratio_to_constant"] for m in LOSS_ONLY if m in rows]
        return min(values), max(values)

    def faster(fast: str, slow: str, target: float) -> list[str]:
        ratio = ms(slow) / ms(fast)
        return [f"{_ms(ms(fast))} vs {_ms(ms(slow))}: {ratio:.1f}×", _yes(ratio >= target)]

    defaults = [r for r in at.values() if r["implementation"] in (None, "batched")]
    heaviest = max(defaults, key=lambda r: r["peak_memory_bytes"])
    others = [r for r in at.values() if r["implementation"] in ("loop", "torchjd")]
    memory_others = ", ".join(f"`{r['method']}` {_mib(r['peak_memory_bytes'])}" for r in others)
    quiet_low, quiet_high = ratios(quiet)
    full_low, full_high = ratios(at)
    dense = ms("constant-dense-input") / ms("constant")
    rows = [
        [
            "loss-only methods within 5% of `constant`",
            f"{quiet_low:.2f}–{quiet_high:.2f}× (`results/{SCALING_LOSS_ONLY}`, {loss_only['steps']} steps); "
            f"{full_low:.2f}–{full_high:.2f}× in the {full['steps']}-step run",
            _yes(quiet_high <= 1.05),
        ],
        ["`gradnorm` ≥ 5× faster than its loop", *faster("gradnorm", "gradnorm:implementation=loop", 5)],
        ["`pcgrad` ≥ 10× faster than its loop", *faster("pcgrad", "pcgrad:implementation=loop", 10)],
        ["`pcgrad` faster than torchjd's PCGrad", *faster("pcgrad", "torchjd-pcgrad", 1)],
        [
            "sparse input ≥ 5× faster than dense for `constant`",
            f"{_ms(ms('constant'))} vs {_ms(ms('constant-dense-input'))}: {dense:.2f}×",
            _yes(dense >= 5),
        ],
        [
            "peak memory ≤ 2 GiB",
            f"defaults ≤ {_mib(heaviest['peak_memory_bytes'])} (`{heaviest['method']}`); {memory_others}",
            "defaults " + _yes(heaviest["peak_memory_bytes"] <= MEMORY_LIMIT_MIB * 2**20),
        ],
    ]
    low = _by_label(full, 32)
    growth = [
        [
            f"`{label}`",
            _ms(_ms_of(low[label])),
            _ms(_ms_of(at[label])),
            _times(_ms_of(at[label]) / _ms_of(low[label])),
            _times(at[label]["ratio_to_constant"]),
        ]
        for label in at
        if label in low
    ]
    return "\n\n".join(
        [
            "### Step time against the task count",
            "```bash\n"
            + _scaling_command(full, SCALING)
            + "\n"
            + _scaling_command(loss_only, SCALING_LOSS_ONLY)
            + "\n```",
            f"Pyramidal network on synthetic PCBA-shaped batches of {full['batch_size']:,} molecules at ECFP "
            "density, one full training step (forward, weighting, backward, clip, Adam), median of "
            f"{full['steps']} timed steps: `results/{SCALING}/` (`scaling.png`, `scaling.md`, `scaling.json`).",
            _table(["target (128 tasks)", "measured", "met"], rows),
            _table(["method", "ms at 32 tasks", "ms at 128 tasks", "growth 32→128", "× `constant` at 128"], growth),
            "PCGrad stays the expensive one: it needs every pairwise inner product of the full shared task "
            "gradients. The sparse input path gains less than its FLOP count suggests because on a CPU the dense "
            "first layer runs near peak while the embedding bag is memory-bound (each set bit reads one row of "
            "the weight); `torch.profiler` on one step shows the split.",
        ]
    )


def _calibration_command(summary: dict, out: str) -> str:
    settings = summary["settings"]
    words = [
        f'mtlperf calibrate-gate --methods "{";".join(summary["methods"])}"',
        f"--tasks {','.join(map(str, summary['tasks']))}",
        f"--runs {summary['runs']} --plant {summary['slowed']}={summary['factor']:g}",
        *([f"--batch-size {settings['batch_size']}"] if settings.get("batch_size") else []),
        f"--steps {settings['steps']} --warmup {settings['warmup']} --repeats {settings.get('repeats', 1)}",
        f"--device {settings['device']}",
        f"--max-regression {summary['max_regression']:g} --out results/{out}",
    ]
    return " ".join(words)


def _gate_calibration(results: Path) -> str:
    summaries = {out: _read(results / out / "calibration.json") for out in GATE_CALIBRATIONS}
    rows = []
    for out, summary in summaries.items():
        n_aa, n_ab, runs = summary["runs"] * (summary["runs"] - 1) // 2, summary["runs"] ** 2, summary["runs"]
        for baseline, rates, n_identical, n_planted in (
            ("one run", summary, n_aa, n_ab),
            (f"the other {runs - 1} runs / all {runs}", summary["runs_baseline"], runs, runs),
        ):
            rows.append(
                [
                    f"`results/{out}/`: `{summary['slowed']}` {summary['factor']:g}×",
                    baseline,
                    f"{rates['false_alarm_rate']:.0%} of {n_identical}",
                    f"{rates['detection_rate']:.0%} of {n_planted}",
                    f"{rates['other_method_blamed_rate']:.0%} of {n_planted}",
                ]
            )
    first = next(iter(summaries.values()))
    settings = first["settings"]
    methods = ", ".join(f"`{m}`" for m in first["methods"])
    commands = "\n".join(_calibration_command(summary, out) for out, summary in summaries.items())
    return "\n\n".join(
        [
            "### The performance gate on this machine",
            "```bash\n" + commands + "\n```",
            f"{methods} and `constant` at {' and '.join(map(str, first['tasks']))} tasks, the CPU defaults of "
            f"`mtlperf scaling` ({settings.get('repeats', 1)} repeats of {settings['steps']} interleaved rounds, "
            f"each repeat with every case built anew). `mtlperf gate` at its default margin "
            f"(+{first['max_regression']:.0%}, widened to {NOISE_Z:g} combined standard errors of the ratios) "
            "between every pair of identical runs (a firing is a false alarm) and between every plain run and "
            "every run with one method slowed by a planted factor (a firing that names it is a detection), with "
            "one run as the baseline, or with several (`mtlperf gate --baseline A1 A2 A3 A4`: their median, the "
            "noise the larger of their spread and one run's):",
            _table(["planted", "baseline", "false alarms", "detections", "another method named"], rows),
            "The two studies share their five plain runs. Why repeats: a built case can run markedly slower or "
            "faster than another build of the same case for as long as it lives, so with one build per run the "
            "gate fired on identical code however many rounds it timed; the median over builds, with its error "
            "from their spread, does not. A 1.3× slowdown is near what these settings resolve (four standard "
            "errors of a few percent on most ratios): more repeats narrow it.",
        ]
    )


# --- accuracy --------------------------------------------------------------------------------------


def _accuracy_command(summary: dict, out: str) -> str:
    words = [
        f"mtlperf accuracy --dataset {summary['dataset']} --tasks {','.join(map(str, summary['tasks']))}",
        f"--preset {summary['preset']}",
    ]
    if summary["config"]["epochs"] != PRESETS[summary["preset"]].epochs:
        words.append(f"--epochs {summary['config']['epochs']}")
    if not summary["slaw_filter"]:
        words.append("--no-slaw-filter")
    words += _fingerprint_words(summary.get("fingerprints"), DEFAULT_N_BITS, DEFAULT_RADIUS)
    methods = tuple(dict.fromkeys(r["method"] for r in summary["results"]))
    if methods != SWEEP_SPECS:
        words.append(f'--methods "{";".join(methods)}"')
    words.append(f"--seeds {summary['seeds']} --out results/{out}")
    return " ".join(words)


def _fingerprint_words(fingerprints: dict | None, n_bits: int, radius: int) -> list[str]:
    if not fingerprints:
        return []
    words = [f"--n-bits {fingerprints['n_bits']}"] if fingerprints["n_bits"] != n_bits else []
    return words + ([f"--radius {fingerprints['radius']}"] if fingerprints["radius"] != radius else [])


def _pinned(results: Path, paths: dict[str, str]) -> tuple[dict[str, dict], str, str]:
    """Pinned accuracy files: their summaries, their commands as a bash block, a method × file table."""
    summaries = {name: _read(results / path / "accuracy.json") for name, path in paths.items()}
    by_method: dict[str, list[str]] = {}
    for summary in summaries.values():
        for r in summary["results"]:
            if r["status"] == "ok":
                by_method.setdefault(r["method"], []).append(_mean_std(r["mean_pr_auc"], 4))
    commands = "\n".join(f"OMP_NUM_THREADS=1 {_accuracy_command(s, paths[n])}" for n, s in summaries.items())
    columns = [f"{name}, {s['tasks'][0]} tasks" for name, s in summaries.items()]
    table = _table(["method", *columns], [[f"`{m}`", *cells] for m, cells in by_method.items()])
    return summaries, "```bash\n" + commands + "\n```", table


def _baselines(results: Path) -> str:
    summaries, commands, table = _pinned(results, BASELINES)
    spread = []
    for summary in summaries.values():
        stds = [r["mean_pr_auc"]["std"] for r in summary["results"] if r["status"] == "ok"]
        spread.append((min(stds), max(stds)))
    seeds = {s["seeds"] for s in summaries.values()}
    ranges = "; ".join(f"{name} {low:.4f}–{high:.4f}" for name, (low, high) in zip(summaries, spread, strict=True))
    return "\n\n".join(
        [
            f"**Pinned baselines** (`results/accuracy/`, how they were recorded in its README): mean test PR AUC, "
            f"mean ± std over {'/'.join(map(str, sorted(seeds)))} seeds on one split, class counts pooled over tasks "
            f"(SLAW's code). Seed-to-seed standard deviation: {ranges}. The test suite retrains seed 0 of every "
            "method and holds it to the recorded value within 0.005, about twice the largest difference a rerun on "
            "another host showed, and requires every "
            "method's per-task PR AUC to differ from `constant`'s.",
            commands,
            table,
        ]
    )


def _beyond_papers(results: Path) -> str:
    """The methods beyond the papers, each against ``constant`` of the same run."""
    summaries, commands, table = _pinned(results, BEYOND_PAPERS)
    verdicts = []
    for name, summary in summaries.items():
        ok = {r["method"]: r["mean_pr_auc"] for r in summary["results"] if r["status"] == "ok"}
        reference = ok["constant"]
        above = [f"`{m}`" for m, score in ok.items() if _beyond(score, reference, 1)]
        below = [f"`{m}`" for m, score in ok.items() if _beyond(score, reference, -1)]
        papers = _read(results / BASELINES[name] / "accuracy.json")
        theirs = {r["method"]: r["mean_pr_auc"]["mean"] for r in papers["results"] if r["status"] == "ok"}
        verdicts.append(
            f"on {name} ({summary['tasks'][0]} tasks, `constant` {reference['mean']:.4f}) "
            f"{', '.join(above) or 'none'} above it and {', '.join(below) or 'none'} below it, the others within; "
            f"SLAW and GradNorm in the papers' baseline file lie {theirs['slaw'] - theirs['constant']:+.4f} and "
            f"{theirs['gradnorm'] - theirs['constant']:+.4f} from its `constant`"
        )
    return "\n\n".join(
        [
            "**The methods beyond the papers** (`results/accuracy/*-beyond-papers`, pinned by the same test), "
            "the same preset, split and seeds, with `constant` rerun beside them. By more than the larger seed "
            "standard deviation of the two: " + "; ".join(verdicts) + ".",
            commands,
            table,
        ]
    )


def _beyond(score: dict, reference: dict, sign: int) -> bool:
    """``score`` lies on the ``sign`` side of ``reference`` by more than the larger of their stds."""
    return sign * (score["mean"] - reference["mean"]) > max(score["std"], reference["std"])


def _accuracy_vs_tasks(results: Path) -> str:
    summary = _read(results / ACCURACY_VS_TASKS / "accuracy.json")
    ok = [r for r in summary["results"] if r["status"] == "ok"]
    tasks = sorted({r["n_tasks"] for r in ok})
    cell = {(r["method"], r["n_tasks"]): r for r in ok}
    methods = list(dict.fromkeys(r["method"] for r in ok))

    def table(metric: str) -> str:
        rows = [
            [f"`{m}`", *(_mean_std(cell[m, n][metric], 3) if (m, n) in cell else "–" for n in tasks)] for m in methods
        ]
        return _table(["method", *(f"{n} tasks" for n in tasks)], rows)

    gaps = [
        (abs(r["mean_pr_auc"]["mean"] - cell["constant", r["n_tasks"]]["mean_pr_auc"]["mean"]), r)
        for r in ok
        if ("constant", r["n_tasks"]) in cell
    ]
    gap, widest = max(gaps, key=lambda g: g[0])
    largest_std = max(r["mean_pr_auc"]["std"] for r in ok)
    return "\n\n".join(
        [
            f"**AP against the task count on {summary['dataset']}** (`results/{ACCURACY_VS_TASKS}/`, "
            f"`{_accuracy_command(summary, ACCURACY_VS_TASKS)}`), mean ± std over {summary['seeds']} seeds. "
            f"The largest distance of a method's mean PR AUC from `constant`'s at the same task count is {gap:.3f} "
            f"(`{widest['method']}`, {widest['n_tasks']} tasks), against a largest seed standard deviation of "
            f"{largest_std:.3f}. `mtlperf scaling ... --accuracy results/{ACCURACY_VS_TASKS}/accuracy.json` draws "
            "it as the second panel of the step-time figure.",
            "Mean PR AUC over tasks:",
            table("mean_pr_auc"),
            "Pooled AP (every task's predictions together):",
            table("pooled_pr_auc"),
        ]
    )


def _mtregression(results: Path) -> str:
    summary = _read(results / MTREGRESSION / "mtregression.json")
    slaw = summary["methods"].get("slaw", {})
    settle = slaw.get("steps_to_settle")
    sentence = ""
    if settle is not None and slaw.get("final_loss_weight_error"):
        at_settle = slaw["loss_weight_error"][settle // summary["log_every"]]
        sentence = (
            f" SLAW's loss-weight error settles (90% of its total change) at step {settle:,}, where it is still "
            f"{at_settle:.3g}, {at_settle / slaw['final_loss_weight_error']:.0f}× its final value."
        )
    return "\n\n".join(
        [
            f"**SLAW's MTRegression study** (`results/{MTREGRESSION}/`, "
            f"`mtlperf reproduce mtregression --seeds {summary['seeds']} --steps {summary['steps']} "
            f"--out results/{MTREGRESSION}`).{sentence} A claim marked False does not hold on this run.",
            mtregression_markdown(summary).strip(),
        ]
    )


def _lbtw(results: Path) -> str:
    summary = _read(results / LBTW / "table1.json")
    words = _fingerprint_words(summary["fingerprints"], **LBTW_FINGERPRINTS)
    command = " ".join(
        [
            f"mtlperf reproduce lbtw --dataset {summary['dataset']} --seeds {summary['seeds']}",
            f"--epochs {summary['config']['epochs']}",
            *words,
            f"--out results/{LBTW}",
        ]
    )
    return "\n\n".join(
        [
            "**LBTW's PCBA study**: the real `pcba.csv.gz` cannot be downloaded on the machine that recorded these "
            "files, so `pytest -m paper` skips with the command that fetches it and the paper's numbers are not "
            f"checked here. The same study on {summary['dataset']} (`results/{LBTW}/`, `{command}`):",
            lbtw_markdown(summary, None).strip(),
        ]
    )


def _sgnn_ebm(results: Path) -> str:
    config = _read(results / SGNN_EBM[0] / "table.json")["config"]
    parts = [
        "**SGNN-EBM's Tables 2-4** on the embedded data with its target graphs, on CPU: the "
        f"`{SGNN_EBM_PRESET}` preset, the paper's settings with a smaller network (GIN "
        f"{len(config['hidden'])} × {config['hidden'][0]}, task embedding {config['task_dim']}, state width "
        f"{config['state_dim']}, state MLP {tuple(config['state_hidden'])}) and fewer epochs. STL (one network "
        "per task) is not run. The paper's numbers stand beside ours only on its ChEMBL-STRING data."
    ]
    for out in SGNN_EBM:
        summary = _read(results / out / "table.json")
        dataset, _, tau = summary["dataset"].partition("-dense")
        command = " ".join(
            [
                f"mtlperf reproduce sgnn-ebm --dataset {dataset}",
                f"--densify {tau}" if tau else "",
                f'--rows "{";".join(summary["rows"])}" --seeds {summary["seeds"]}',
                f"--preset {SGNN_EBM_PRESET} --epochs {summary['config']['epochs']} --out results/{out}",
            ]
        )
        parts += [f"`results/{out}/` (`{' '.join(command.split())}`):", sgnn_ebm_markdown(summary).strip()]
    return "\n\n".join(parts)


# --- formatting ------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _mean_std(entry: dict, digits: int) -> str:
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f}"


def _ms_of(result: dict) -> float:
    return result["step_time_s"]["median"] * 1e3


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _mib(n_bytes: float) -> str:
    return f"{math.ceil(n_bytes / 2**20):,} MiB"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.3g}×"


def _yes(met: Any) -> str:
    return "yes" if met else "no"
