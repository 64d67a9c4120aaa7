"""The ``mtlperf`` command: argument parsing and dispatch, nothing else.

Bad input (unknown method, dataset, hyperparameter, device...) ends with one line on
stderr and exit code 2; a run whose loss diverges ends with one line and exit code 1.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import paper
from .accuracy import SWEEP_SPECS, accuracy_sweep
from .cases import COMPARISONS
from .cluster import check_cluster_options, sweep_client
from .config import CLASS_WEIGHTS, GRAPH_MODELS, PRESETS, SELECTIONS, STRUCTURED_PRESETS, TrainConfig, preset_for
from .data import MultiTaskDataset, fetch_pcba, list_datasets, load_dataset
from .data.catalogue import EMBEDDED_FILES
from .data.chembl_string import read_chembl_string
from .data.csv_loader import read_task_csv
from .data.densify import densified_stats
from .data.fingerprints import DEFAULT_N_BITS, DEFAULT_RADIUS, FINGERPRINT_SETTINGS
from .data.pcba import EMBEDDED
from .data.relations import densified_dataset, task_graph_of
from .data.splits import SPLIT_KINDS
from .data.task_graph import TARGET_TABLES, embedded_target_graph, read_task_scores
from .device import DEVICE_CHOICES, resolve_device
from .ebm.fit import NOISES as EBM_NOISES
from .ebm.fit import EnergySettings, train_sgnn_ebm
from .ebm.gibbs import ESTIMATES as GIBBS_ESTIMATES
from .gate import compare
from .gate import summary as gate_summary
from .gate_calibration import calibrate_gate, calibration_markdown
from .io import atomic_write_json, atomic_write_text, check_output_dir, check_output_file
from .losses import REDUCTIONS
from .methods import list_methods, method_class, parse_spec
from .models import INITS, MODEL_KINDS, STRUCTURED_KINDS
from .reports import accuracy_markdown, densify_markdown, sgnn_ebm_markdown
from .reproduce import LBTW_FINGERPRINTS, reproduce_lbtw, reproduce_mtregression
from .reproduce_sgnn_ebm import ROWS as STUDY_ROWS
from .reproduce_sgnn_ebm import TABLES as STUDY_TABLES
from .reproduce_sgnn_ebm import reproduce_sgnn_ebm, study_rows
from .results_section import render, replace_section
from .scaling import DEFAULT_BATCH, REPEATS, STEPS, WARMUP, run_scaling
from .train import STRATEGIES, check_method, train

SEED_LIMIT = 2**63  # numpy's and torch's seeds


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (``mtlperf: error: ...``), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in re.split(r"[,\s]+", text.strip()) if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _int_tuple(text: str) -> tuple[int, ...]:
    return tuple(_int_list(text))


def _semicolon_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(";") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected names separated by ';', got {text!r}")
    return values


def _int_at_least(minimum: int, below: int | None = None):
    """An argparse type: an integer >= ``minimum`` (and < ``below`` if given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (below is not None and value >= below):
            accepted = f"in [{minimum}, {below})" if below is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"expected an integer {accepted}, got {text!r}")
        return value

    return parse


def _add_fingerprint_options(
    parser: argparse.ArgumentParser, n_bits: int = DEFAULT_N_BITS, radius: int = DEFAULT_RADIUS
) -> None:
    """``--n-bits``/``--radius``, unset (None) unless given: the defaults named in the help are the callee's."""
    whose = "LBTW's" if n_bits == LBTW_FINGERPRINTS["n_bits"] else "SLAW's"
    parser.add_argument(
        "--n-bits", type=_int_at_least(1), metavar="N", help=f"fingerprint length (default {n_bits}, {whose})"
    )
    parser.add_argument(
        "--radius", type=_int_at_least(0), metavar="R", help=f"Morgan fingerprint radius (default {radius})"
    )


def _add_timing_options(parser: argparse.ArgumentParser) -> None:
    """``--batch-size``, ``--steps``, ``--warmup``, ``--repeats``, ``--device``: how every timed case runs."""
    parser.add_argument(
        "--batch-size",
        type=_int_at_least(1),
        help=f"rows per step (default {DEFAULT_BATCH['cpu']} on CPU, SLAW's {DEFAULT_BATCH['cuda']:,} on a GPU)",
    )
    parser.add_argument(
        "--steps", type=_int_at_least(1), default=STEPS, help=f"timed rounds per repeat (default {STEPS})"
    )
    parser.add_argument(
        "--warmup", type=_int_at_least(0), default=WARMUP, help=f"untimed steps of each new build (default {WARMUP})"
    )
    parser.add_argument(
        "--repeats",
        type=_int_at_least(1),
        default=REPEATS,
        help=f"times every case is built anew and timed; the ratio is the repeats' median (default {REPEATS})",
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default auto: cuda if present")


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--workers``/``--scheduler``: where a sweep's runs execute (:mod:`mtlperf.cluster`); default here, serially."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers", type=_int_at_least(1), metavar="N", help="run on a local Dask cluster of N worker processes"
    )
    group.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster, e.g. tcp://host:8786")


def _add_structured_options(parser: argparse.ArgumentParser) -> None:
    """SGNN and SGNN-EBM (``--model sgnn|sgnn-ebm``): the task graph's data, the model's sizes, the EBM's settings."""
    group = parser.add_argument_group("structured models (--model sgnn or sgnn-ebm)")
    group.add_argument(
        "--graph",
        metavar="FILE",
        help="task relation graph, lines 'i<TAB>j<TAB>score' of task indices (default: the data's own)",
    )
    group.add_argument(
        "--densify", type=_int_at_least(1), metavar="TAU", help="keep molecules and tasks with >= TAU labels"
    )
    group.add_argument(
        "--selection", choices=SELECTIONS, help="validation score to select on (sgnn-ebm preset: ROC AUC)"
    )
    group.add_argument("--task-dim", type=_int_at_least(1), help="task embedding width (default 50)")
    group.add_argument("--state-dim", type=_int_at_least(1), help="SGNN state width d (default 100)")
    group.add_argument(
        "--state-hidden",
        type=_int_tuple,
        metavar="H,H",
        help="hidden widths of SGNN's node and edge input MLPs (default 1024,512)",
    )
    group.add_argument("--sgnn-layers", type=_int_at_least(0, 17), help="message passing layers L (default 2)")
    group.add_argument("--gcn-layers", type=_int_at_least(0, 17), help="GCN layers over the task graph (default 2)")
    group.add_argument(
        "--link-pretrain-epochs",
        type=_int_at_least(0),
        help="pre-train the task embeddings by link prediction on the task graph (the authors' code; default 0: off)",
    )
    group.add_argument("--noise", choices=EBM_NOISES, help="sgnn-ebm's NCE noise q (default fixed: a trained backbone)")
    group.add_argument("--lam", type=float, help="weight of the edge factors (default 0.1)")
    group.add_argument("--gibbs-sweeps", type=_int_at_least(1), help="Gibbs sweeps per prediction (default 2)")
    group.add_argument("--gibbs-estimate", choices=GIBBS_ESTIMATES, help="marginals: mean of the sweeps or the last")
    group.add_argument("--untilted", action="store_true", help="the authors' code's NCE without the tilting term")
    group.add_argument("--backbone", metavar="SPEC", help="weighting method of the noise model (default constant)")
    group.add_argument("--backbone-model", choices=("sgnn", "gin"), help="the noise model (default sgnn)")
    group.add_argument("--backbone-epochs", type=_int_at_least(1), help="its epochs (default: --epochs)")
    group.add_argument("--adaptive-start", type=_int_at_least(1), help="first epoch of adaptive noise (default half)")
    group.add_argument("--adaptive-every", type=_int_at_least(1), help="epochs between its refreshes (default 5)")


def _energy_settings(args) -> EnergySettings:
    """SGNN-EBM's settings from the command line, checked before any data is loaded."""
    names = {
        "noise": "noise",
        "lam": "lam",
        "gibbs_sweeps": "sweeps",
        "gibbs_estimate": "estimate",
        "backbone": "backbone",
        "backbone_model": "backbone_model",
        "backbone_epochs": "backbone_epochs",
        "adaptive_start": "adaptive_start",
        "adaptive_every": "adaptive_every",
    }
    given = {field: getattr(args, option) for option, field in names.items() if getattr(args, option) is not None}
    if args.untilted:
        given["tilted"] = False
    if args.model != "sgnn-ebm" and (given or args.untilted):
        raise ValueError(
            "--noise, --lam, --gibbs-*, --untilted, --backbone* and --adaptive-* set sgnn-ebm: add --model sgnn-ebm"
        )
    try:
        settings = EnergySettings(**given)
    except ValueError as error:
        message = str(error)
        for option, field in names.items():
            message = re.sub(rf"\b{field}\b", "--" + option.replace("_", "-"), message)
        raise ValueError(message) from None
    check_method(*parse_spec(settings.backbone))
    return settings


def _timing_options(args) -> dict:
    return {key: getattr(args, key) for key in ("batch_size", "steps", "warmup", "repeats", "device")}


def _fingerprint_options(args) -> dict:
    return {key: getattr(args, key) for key in FINGERPRINT_SETTINGS if getattr(args, key) is not None}


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated fractions, got {text!r}") from None


def _planted(text: str) -> tuple[str, float]:
    spec, sep, factor = text.rpartition("=")
    try:
        value = float(factor)
    except ValueError:
        value = None
    if not sep or not spec or value is None or not value > 1:
        raise argparse.ArgumentTypeError(f"expected SPEC=FACTOR with a factor > 1 (e.g. gradnorm=1.5), got {text!r}")
    return spec, value


def _specs(text: str) -> list[str]:
    """Method specs separated by ';' or whitespace (commas belong inside a spec)."""
    return [s for s in re.split(r"[;\s]+", text.strip()) if s]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtlperf", description="Multi-task loss-weighting methods: train, time, compare with papers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    commands.add_parser(
        "methods",
        help="list the methods and strategies with their hyperparameters and cost",
        description="One line per weighting method and training strategy.",
    )

    train = commands.add_parser(
        "train",
        help="train one method on one dataset and report per-task PR AUC / ROC AUC",
        description="Train a method (SPEC = NAME or NAME:KEY=VALUE,...; e.g. lbtw:alpha=0.1, rmtl:task=3) "
        "with the paper settings of the data (LBTW's for molecules, SLAW's for mtregression); options override them.",
    )
    train.add_argument("--dataset", required=True, help=f"{', '.join(list_datasets())}, or a CSV path")
    train.add_argument("--tasks", type=_int_at_least(1), metavar="K", help="use the first K tasks (default: all)")
    train.add_argument("--method", default="constant", metavar="SPEC", help="method spec (default: constant)")
    train.add_argument("--preset", choices=tuple(PRESETS), help="settings to start from (default: by dataset)")
    train.add_argument(
        "--model",
        choices=(*MODEL_KINDS, *STRUCTURED_KINDS),
        help="network (default: the preset's); sgnn and sgnn-ebm read molecular graphs and the task graph",
    )
    train.add_argument("--init", choices=INITS, help="initialisation: torch's, or the LBTW authors' code")
    train.add_argument("--hidden", type=_int_list, metavar="H,H", help="hidden layer sizes, e.g. 64,32")
    train.add_argument("--dropout", type=float)
    train.add_argument("--epochs", type=_int_at_least(1))
    train.add_argument("--max-steps", type=_int_at_least(1), help="stop after this many optimiser steps")
    train.add_argument("--batch-size", type=_int_at_least(1))
    train.add_argument("--lr", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--clip", type=float, help="max gradient norm")
    train.add_argument(
        "--reduction",
        choices=REDUCTIONS,
        help="per-task loss: mean over the labelled rows or over all rows of the batch",
    )
    train.add_argument(
        "--class-weights",
        choices=CLASS_WEIGHTS,
        help="weight positives by negatives/positives: each task's counts, or pooled over tasks (SLAW's code)",
    )
    train.add_argument("--split", choices=SPLIT_KINDS, help="ignored when the data has its own split")
    train.add_argument("--fractions", type=_fractions, metavar="TR,VA,TE", help="split fractions, e.g. 0.6,0.2,0.2")
    train.add_argument("--max-rows", type=_int_at_least(1), help="train/evaluate on a random sample of about N rows")
    train.add_argument("--eval-every", type=_int_at_least(1), metavar="EPOCHS")
    train.add_argument("--seed", type=_int_at_least(0, SEED_LIMIT))
    train.add_argument("--device", choices=DEVICE_CHOICES, help="default: auto")
    train.add_argument("--save-predictions", action="store_true", default=None, help="put predictions in the JSON")
    train.add_argument("--cache-dir", help="where features and downloads are cached")
    _add_fingerprint_options(train)
    _add_structured_options(train)
    train.add_argument("--out", metavar="FILE.json", help="write the result JSON here")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    data = commands.add_parser("data", help="data management", description="Data management.")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_commands.required = True
    fetch = data_commands.add_parser(
        "fetch",
        help="download a dataset into the cache",
        description="Download a dataset (pcba) into the cache and verify it.",
    )
    fetch.add_argument("name", choices=("pcba",), help="dataset to fetch: pcba (DeepChem's PCBA-128 file)")
    fetch.add_argument("--cache-dir", help="cache directory (default: $MTLPERF_CACHE or ~/.cache/mtlperf)")
    densify = data_commands.add_parser(
        "densify",
        help="SGNN-EBM's densification of a label matrix, beside the paper's Table 1",
        description="Densify a data set's labels over its task relation graph (SGNN-EBM appendix A.3) and print "
        "molecules, tasks and labelled share per threshold beside the paper's ChEMBL-STRING numbers.",
    )
    densify.add_argument(
        "--dataset", required=True, help="toxcast or tox21 (target-table graph) or a ChEMBL-STRING directory"
    )
    densify.add_argument("--thresholds", type=_int_list, default=[10, 50], metavar="T,T", help="default 10,50")

    scaling = commands.add_parser(
        "scaling",
        help="time one training step of methods against the number of tasks",
        description="Step time against the number of tasks. Give methods with --method SPEC (repeatable) "
        "and/or --methods 'SPEC;SPEC' (split on ';' or whitespace, since specs contain commas). "
        "Comparison rows: " + "; ".join(f"{name} ({row.description})" for name, row in COMPARISONS.items()) + ".",
    )
    scaling.add_argument("--method", action="append", default=[], metavar="SPEC", help="a method spec (repeatable)")
    scaling.add_argument(
        "--methods",
        action="append",
        default=[],
        type=_specs,
        metavar="SPECS",
        help="method specs separated by ';' or spaces",
    )
    scaling.add_argument(
        "--tasks", type=_int_list, default=[32, 64, 96, 128], metavar="T,T", help="task counts (default 32,64,96,128)"
    )
    _add_timing_options(scaling)
    scaling.add_argument("--seed", type=_int_at_least(0, SEED_LIMIT), default=0, help="default 0")
    scaling.add_argument(
        "--out", default="results/scaling", metavar="DIR", help="output directory (default results/scaling)"
    )
    scaling.add_argument(
        "--accuracy",
        metavar="FILE",
        help="an accuracy.json (`mtlperf accuracy`): mean AP "
        "per method and task count, drawn in the figure's second panel",
    )
    scaling.add_argument("--quiet", action="store_true", help="no progress bar")

    accuracy = commands.add_parser(
        "accuracy",
        help="test AP of methods against the number of tasks (SLAW Figure 2, accuracy panel)",
        description="Train every method on the first K tasks of a molecule set for each K, over seeds; write "
        "DIR/accuracy.json, .md and .png. Finished runs are kept and a rerun resumes.",
    )
    accuracy.add_argument("--dataset", default="toxcast", help="toxcast (default), tox21, muv, pcba or a CSV path")
    accuracy.add_argument(
        "--tasks", type=_int_list, default=[32, 64, 96, 128], metavar="K,K", help="task counts (default 32,64,96,128)"
    )
    accuracy.add_argument(
        "--methods",
        type=_specs,
        default=list(SWEEP_SPECS),
        metavar="SPECS",
        help=f"method specs separated by ';' (default {';'.join(SWEEP_SPECS)})",
    )
    accuracy.add_argument("--seeds", type=_int_at_least(1), default=3)
    accuracy.add_argument(
        "--preset",
        choices=[p for p, preset in PRESETS.items() if preset.model not in ("mtregression", "gin")],
        default="slaw-pcba",
        help="training settings (default slaw-pcba: SLAW's PCBA recipe)",
    )
    accuracy.add_argument("--epochs", type=_int_at_least(1), help="default: the preset's")
    accuracy.add_argument("--batch-size", type=_int_at_least(1), help="default: the preset's")
    accuracy.add_argument(
        "--no-slaw-filter", action="store_true", help="keep molecules not labelled for any of the first 32 tasks"
    )
    _add_fingerprint_options(accuracy)
    accuracy.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    accuracy.add_argument("--out", required=True, metavar="DIR", help="output directory")
    accuracy.add_argument("--quiet", action="store_true", help="no progress bar")

    gate = commands.add_parser(
        "gate",
        help="fail when step times regressed against a baseline",
        description="Compare a scaling result with a baseline; exit 1 on a regression.",
    )
    gate.add_argument(
        "--baseline",
        required=True,
        nargs="+",
        metavar="FILE",
        help="a scaling.json, or several runs of the same code (their spread then sets the noise)",
    )
    gate.add_argument("--current", required=True, metavar="FILE")
    gate.add_argument("--max-regression", type=float, default=0.10, help="allowed slow-down fraction (default 0.10)")
    calibrate = commands.add_parser(
        "calibrate-gate",
        help="measure the gate's false alarms and its detection of a planted slowdown",
        description="Time RUNS scaling runs as they are and RUNS with one method slowed by a known factor, "
        "then gate every pair: identical pairs give the false-alarm rate, planted ones the detection rate.",
    )
    calibrate.add_argument("--methods", required=True, type=_specs, metavar="SPECS", help="specs separated by ';'")
    calibrate.add_argument("--tasks", type=_int_list, default=[32, 128], metavar="T,T", help="default 32,128")
    calibrate.add_argument("--runs", type=_int_at_least(2), default=4, help="runs of each kind (default 4)")
    calibrate.add_argument(
        "--plant", required=True, metavar="SPEC=FACTOR", type=_planted, help="the slowed method, e.g. gradnorm=1.5"
    )
    _add_timing_options(calibrate)
    calibrate.add_argument("--max-regression", type=float, default=0.10, help="the gate's margin (default 0.10)")
    calibrate.add_argument("--out", required=True, metavar="DIR", help="output directory")
    reproduce = commands.add_parser(
        "reproduce",
        help="rerun a paper's study and write its tables and figures",
        description="Rerun a paper's study; finished runs are kept and a rerun resumes.",
    )
    studies = reproduce.add_subparsers(dest="study", metavar="STUDY", parser_class=_Parser)
    studies.required = True
    lbtw = studies.add_parser(
        "lbtw",
        help="the LBTW paper's Table 1 / S1 and Figures 1 / S1",
        description="STL, MTL, Fine Tuning, GradNorm, RMTL and LBTW on one dataset.",
    )
    lbtw.add_argument("--dataset", required=True, help="pcba (the paper's), toxcast, muv, tox21 or a CSV path")
    lbtw.add_argument("--tasks", type=_int_at_least(1), help="keep the first K tasks")
    lbtw.add_argument("--seeds", type=_int_at_least(1), default=1)
    lbtw.add_argument("--epochs", type=_int_at_least(1), help="default: the paper's 100")
    _add_fingerprint_options(lbtw, **LBTW_FINGERPRINTS)
    regression = studies.add_parser(
        "mtregression",
        help="the SLAW paper's MTRegression study (Figure 1, Table 1)",
        description="Seven weighting methods on MTRegression.",
    )
    regression.add_argument("--seeds", type=_int_at_least(1), default=10)
    regression.add_argument("--steps", type=_int_at_least(1), default=9900, help="default: the paper's 9,900")
    structured = studies.add_parser(
        "sgnn-ebm",
        help="the SGNN-EBM paper's Table 2 (Tables 3 and 4 as options)",
        description="The weighting baselines on GIN, SGNN and SGNN-EBM over a task relation graph.",
    )
    structured.add_argument(
        "--dataset", required=True, help="toxcast, tox21 (their target graphs) or a ChEMBL-STRING directory"
    )
    structured.add_argument("--tasks", type=_int_at_least(1), help="keep the first K tasks")
    structured.add_argument(
        "--densify", type=_int_at_least(1), metavar="TAU", help="keep molecules and tasks with >= TAU labels"
    )
    structured.add_argument(
        "--graph", metavar="FILE", help="task relation graph, lines 'i<TAB>j<TAB>score' (default: the data's own)"
    )
    structured.add_argument("--seeds", type=_int_at_least(1), default=5, help="default 5, as the paper")
    structured.add_argument(
        "--tables",
        type=_int_list,
        default=[2],
        help=f"comma-separated, of {', '.join(map(str, STUDY_TABLES))} (default 2)",
    )
    structured.add_argument(
        "--rows", type=_semicolon_list, help=f"instead of --tables, ';'-separated of: {'; '.join(STUDY_ROWS)}"
    )
    structured.add_argument(
        "--preset",
        choices=STRUCTURED_PRESETS,
        default="sgnn-ebm",
        help="sgnn-ebm: the paper's settings; sgnn-ebm-cpu: a smaller GIN and fewer epochs (default sgnn-ebm)",
    )
    structured.add_argument("--epochs", type=_int_at_least(1), help="default: the preset's")
    report = commands.add_parser(
        "report",
        help="render the README's Results section from results/",
        description="Write the README's Results section from the result files; --check only compares.",
    )
    report.add_argument("--results", default="results", metavar="DIR", help="result directory (default results)")
    report.add_argument(
        "--readme", default="README.md", metavar="FILE", help="the README to update (default README.md)"
    )
    report.add_argument("--check", action="store_true", help="exit 1 if the README differs, write nothing")
    for study in (lbtw, regression, structured):
        study.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
        study.add_argument("--out", required=True, metavar="DIR", help="output directory")
        study.add_argument("--quiet", action="store_true", help="no progress bar")
    for sweep in (lbtw, regression, structured, accuracy):
        _add_cluster_options(sweep)
    scaling.add_argument("--workers", help=argparse.SUPPRESS)
    scaling.add_argument("--scheduler", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"mtlperf: error: {error}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as error:  # a diverged run or a failed download: not bad input
        print(f"mtlperf: error: {error}", file=sys.stderr)
        return 1


def _methods(args) -> None:
    rows = []
    for name in list_methods():
        cls = method_class(name)
        hp = ", ".join(f"{k}={v}" for k, v in cls.defaults.items()) or "-"
        rows.append((name, hp, f"needs: {cls.needs}"))
    rows += [(name, "-", f"strategy: {what}") for name, what in STRATEGIES.items()]
    widths = [max(len(row[i]) for row in rows) for i in (0, 1)]
    for name, hp, what in rows:
        print(f"{name:{widths[0]}}  {hp:{widths[1]}}  {what}")


def _check_dataset(name: str) -> None:
    if name not in list_datasets() and not Path(name).expanduser().exists():
        valid = ", ".join(list_datasets())
        raise ValueError(
            f"unknown dataset {name!r}; valid: {valid}, the path of a CSV file or of a ChEMBL-STRING directory"
        )


def _check_graph_file(path: str | None) -> None:
    if path is not None and not Path(path).expanduser().is_file():
        raise ValueError(f"--graph {path}: no such file")


def _with_task_graph(dataset: MultiTaskDataset, graph: str | None, densify: int | None) -> MultiTaskDataset:
    """The data the structured models read: its task graph (``--graph`` or its own; refused without one), densified."""
    if graph is not None:
        dataset.meta["task_graph"] = read_task_scores(graph, dataset.task_names)
    task_graph_of(dataset)
    return dataset if densify is None else densified_dataset(dataset, densify)


def _train(args) -> None:
    # cheap checks first, so a typo or an unwritable --out fails before the data is loaded
    if args.out:
        check_output_file(args.out)
    check_method(*parse_spec(args.method))
    resolve_device(args.device or "auto")
    _check_dataset(args.dataset)
    given = _training_options(args, TRAIN_OPTIONS)
    energy = _energy_settings(args)
    model = args.model or (PRESETS[args.preset].model if args.preset else None)
    if (args.densify is not None or args.graph is not None) and model not in STRUCTURED_KINDS:
        raise ValueError("--densify and --graph set the data the structured models read: add --model sgnn or sgnn-ebm")
    _check_graph_file(args.graph)
    load_options = _fingerprint_options(args) | ({"cache_dir": args.cache_dir} if args.cache_dir else {})
    if model in GRAPH_MODELS:
        if _fingerprint_options(args):
            raise ValueError(f"--n-bits and --radius set fingerprints; the {model} model reads molecular graphs")
        load_options["features"] = "graphs"
    elif Path(args.dataset).expanduser().is_dir():  # a ChEMBL-STRING directory loads graphs unless told
        load_options["features"] = "fingerprints"
    dataset = load_dataset(args.dataset, n_tasks=args.tasks, **load_options)
    if model in STRUCTURED_KINDS:
        dataset = _with_task_graph(dataset, args.graph, args.densify)
    preset = PRESETS[args.preset] if args.preset else preset_for(dataset, model)
    config = preset.replace(**given)
    if model == "sgnn-ebm":
        result = train_sgnn_ebm(dataset, config, energy, progress=not args.quiet)
    else:
        result = train(dataset, args.method, config, progress=not args.quiet)
    print(format_result(result))
    if args.out:
        atomic_write_json(args.out, result)
        print(f"wrote {args.out}")


TRAIN_OPTIONS = (
    "model",
    "init",
    "hidden",
    "dropout",
    "epochs",
    "max_steps",
    "batch_size",
    "lr",
    "weight_decay",
    "clip",
    "reduction",
    "class_weights",
    "split",
    "fractions",
    "max_rows",
    "eval_every",
    "seed",
    "device",
    "save_predictions",
    "selection",
    "task_dim",
    "state_dim",
    "state_hidden",
    "sgnn_layers",
    "gcn_layers",
    "link_pretrain_epochs",
)


def _training_options(args, names: Sequence[str]) -> dict:
    """The training options given on the command line, checked now (before any data is loaded)
    against every preset; an error names the option as it is spelt on the command line."""
    given = {key: getattr(args, key) for key in names if getattr(args, key, None) is not None}
    try:
        TrainConfig().replace(**given)
    except ValueError as error:
        message = str(error)
        for key in given:
            message = re.sub(rf"\b{key}\b", "--" + key.replace("_", "-"), message)
        raise ValueError(message) from None
    return given


def format_result(result: dict) -> str:
    """The per-task table (task, PR AUC, ROC AUC) and the means, or the regression losses."""
    head = f"{result['method']} on {result['dataset']} ({result['n_tasks']} tasks, {result['device']})"
    test = result["test"]
    if test is None:
        return f"{head}: no test rows"
    if "normalized_loss" in test:
        lines = [head, f"test normalised loss   {test['normalized_loss']:.4f}"]
        if result.get("train_normalized_loss") is not None:
            lines.append(f"train normalised loss  {result['train_normalized_loss']:.4f}")
        if result.get("loss_weight_error"):
            lines.append(f"loss-weight error      {result['loss_weight_error'][-1]:.4f} (last logged step)")
        return "\n".join(lines)
    width = max(12, *(len(t) for t in test["pr_auc"]))
    lines = [head, f"{'task':{width}}  {'PR AUC':>7}  {'ROC AUC':>7}"]
    lines += [f"{t:{width}}  {test['pr_auc'][t]:7.3f}  {test['roc_auc'][t]:7.3f}" for t in test["pr_auc"]]
    lines.append(f"{'mean':{width}}  {test['mean_pr_auc']:7.3f}  {test['mean_roc_auc']:7.3f}")
    lines.append(f"pooled PR AUC {test['pooled_pr_auc']:.3f}; single-class test tasks: {test['n_single_class_tasks']}")
    return "\n".join(lines)


def _data(args) -> None:
    if args.data_command == "densify":
        labels, graph, name = _labels_and_task_graph(args.dataset)
        stats = [densified_stats(labels, threshold, graph) for threshold in args.thresholds]
        print(densify_markdown(name, stats, paper.load_table("sgnn_ebm_table1_datasets")), end="")
        return
    path = fetch_pcba(cache_dir=args.cache_dir)
    print(f"{args.name}: {path}")


def _labels_and_task_graph(dataset: str):
    """Labels (no featurisation) and the task relation graph of an embedded set or a ChEMBL-STRING directory."""
    if dataset in TARGET_TABLES:
        table = read_task_csv(EMBEDDED / EMBEDDED_FILES[dataset])
        return table.labels, embedded_target_graph(dataset, table.task_names), dataset
    if Path(dataset).expanduser().is_dir():
        data = read_chembl_string(dataset)
        return data.labels, data.task_graph, data.source.name
    raise ValueError(f"--dataset {dataset!r}: valid: {', '.join(TARGET_TABLES)}, or a ChEMBL-STRING directory")


def _scaling(args) -> None:
    if args.workers is not None or args.scheduler is not None:
        raise ValueError("scaling times in one process with nothing else running: it takes no --workers or --scheduler")
    check_output_dir(args.out)
    methods = [*args.method, *(spec for group in args.methods for spec in group)]
    if not methods:
        raise ValueError("give at least one method: --method SPEC (repeatable) or --methods 'SPEC;SPEC'")
    run_scaling(
        methods=methods,
        tasks=args.tasks,
        **_timing_options(args),
        out_dir=args.out,
        seed=args.seed,
        progress=not args.quiet,
        accuracy=args.accuracy,
    )
    print(f"wrote the scaling results to {args.out}")


def _accuracy(args) -> None:
    check_cluster_options(args.workers, args.scheduler)
    check_output_dir(args.out)
    with sweep_client(args.workers, args.scheduler) as client:
        summary = _accuracy_sweep(args, client)
    print(accuracy_markdown(summary), end="")
    print(f"wrote the accuracy results to {args.out}")


def _accuracy_sweep(args, client) -> dict:
    return accuracy_sweep(
        args.dataset,
        args.tasks,
        args.seeds,
        args.out,
        methods=args.methods,
        preset=args.preset,
        device=args.device,
        slaw_filter=not args.no_slaw_filter,
        progress=not args.quiet,
        epochs=args.epochs,
        batch_size=args.batch_size,
        client=client,
        **_fingerprint_options(args),
    )


def _gate(args) -> int:
    comparisons = compare(args.baseline, args.current, args.max_regression)
    print(gate_summary(comparisons, args.max_regression))
    failures = [c for c in comparisons if c.failed]
    if failures:
        print(f"gate failed: {len(failures)} of {len(comparisons)} regressed")
        print("\n".join(c.line() for c in failures))
        return 1
    print(f"gate passed: {args.current} is within the allowed rise of {', '.join(args.baseline)}")
    return 0


def _reproduce(args) -> None:
    check_cluster_options(args.workers, args.scheduler)
    check_output_dir(args.out)
    with sweep_client(args.workers, args.scheduler) as client:
        _run_study(args, client)
    print(f"wrote the {args.study} study to {args.out}")


def _run_study(args, client) -> None:
    if args.study == "lbtw":
        reproduce_lbtw(
            args.dataset,
            args.tasks,
            args.seeds,
            args.out,
            epochs=args.epochs,
            device=args.device,
            progress=not args.quiet,
            client=client,
            **_fingerprint_options(args),
        )
    elif args.study == "sgnn-ebm":
        names = study_rows(args.tables, args.rows)  # checked before the data is loaded
        resolve_device(args.device)
        _check_dataset(args.dataset)
        _check_graph_file(args.graph)
        dataset = _with_task_graph(
            load_dataset(args.dataset, n_tasks=args.tasks, features="graphs"), args.graph, args.densify
        )
        base = PRESETS[args.preset].replace(**({"epochs": args.epochs} if args.epochs else {}))
        summary = reproduce_sgnn_ebm(
            dataset,
            args.seeds,
            args.out,
            rows=names,
            base=base,
            device=args.device,
            progress=not args.quiet,
            client=client,
        )
        print(sgnn_ebm_markdown(summary), end="")
    else:
        reproduce_mtregression(
            args.seeds, args.out, steps=args.steps, device=args.device, progress=not args.quiet, client=client
        )


def _report(args) -> int:
    readme = Path(args.readme)
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--readme {readme}: cannot read it ({error})") from None
    rendered = replace_section(text, render(args.results))
    if rendered == text:
        print(f"{readme}: the Results section matches {args.results}/")
        return 0
    if args.check:
        print(f"{readme}: the Results section differs from what {args.results}/ gives; run `mtlperf report`")
        return 1
    atomic_write_text(readme, rendered)
    print(f"wrote the Results section of {readme} from {args.results}/")
    return 0


def _calibrate_gate(args) -> None:
    check_output_dir(args.out)
    slowed, factor = args.plant
    summary = calibrate_gate(
        args.methods,
        args.tasks,
        runs=args.runs,
        slowed=slowed,
        factor=factor,
        out_dir=args.out,
        max_regression=args.max_regression,
        **_timing_options(args),
    )
    print(calibration_markdown(summary), end="")


_COMMANDS = {
    "methods": _methods,
    "train": _train,
    "data": _data,
    "scaling": _scaling,
    "accuracy": _accuracy,
    "gate": _gate,
    "calibrate-gate": _calibrate_gate,
    "reproduce": _reproduce,
    "report": _report,
}


if __name__ == "__main__":
    sys.exit(main())
