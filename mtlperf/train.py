"""Training: one run of a weighting method, model selection, and the per-task strategies.

One run (:func:`fit`): one Adam over the network and the method's own parameters; each batch is one
:class:`~mtlperf.step.TrainingStep`;
evaluation on the validation rows every ``eval_every`` epochs, keeping the best state in
memory (LBTW paper: best mean validation PR AUC, every epoch); test metrics at that state.
Without validation rows the last state is kept.

Strategies train one network per task and take task k's metrics from run k
(Liu, Liang & Gitter 2019, appendix): ``stl``, ``finetune`` and ``rmtl-per-task`` (LBTW's "RMTL").
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .cluster import map_on_cluster
from .config import GRAPH_MODELS, TrainConfig, preset_for
from .data import MultiTaskDataset
from .data.batches import Batches, training_batches
from .data.graphs import PackedGraphs
from .data.relations import task_graph_of
from .data.splits import Split, sampled_split
from .determinism import deterministic_kernels, seed_everything
from .device import device_name, resolve_device
from .io import json_ready
from .link_pretraining import pretrain_task_embedding
from .losses import class_weights, regression_losses, task_losses
from .methods import NonFiniteLossError, WeightingMethod, create_method, list_methods, method_class, parse_spec
from .methods.base import format_spec
from .metrics import evaluate, loss_weight_error, normalized_loss
from .models import build_model, build_structured_model
from .step import LossFunction, TrainingStep

RMTL_PER_TASK = "rmtl-per-task"
STRATEGIES = {
    "stl": "one single-task network per task; rows missing that task's label are dropped",
    "finetune": "per task: constant MTL on the other T-1 tasks, copy every non-head parameter, "
    "then train the whole network on that task",
    RMTL_PER_TASK: "per task k: the rmtl method emphasising task k on all tasks; task k's metrics from run k",
}
IDEAL_CONSTANT = "ideal-constant"


class TrainingDiverged(FloatingPointError):
    """A task loss became NaN or infinite; the message names the task and the step."""


def make_split(dataset: MultiTaskDataset, config: TrainConfig) -> Split:
    """The run's train/valid/test rows: the split's own seed if set, else the run's seed."""
    seed = config.seed if config.split_seed is None else config.split_seed
    return sampled_split(dataset, config.split, config.fractions, seed, config.max_rows)


@torch.no_grad()
def predict(model: torch.nn.Module, batches: Batches, rows: np.ndarray, batch_size: int) -> np.ndarray | None:
    """Probabilities (classification) or outputs (regression) for ``rows``; None when there are none."""
    if rows.size == 0:
        return None
    was_training = model.training
    model.eval()
    out = torch.cat([model(batches.inputs(rows[i : i + batch_size])) for i in range(0, rows.size, batch_size)])
    model.train(was_training)
    if batches.dataset.task_type == "classification":
        out = torch.sigmoid(out)
    return out.float().cpu().numpy()


def scores(dataset: MultiTaskDataset, columns: Sequence[int], labels: np.ndarray, predictions: np.ndarray | None):
    """Metrics of the predictions for tasks ``columns`` (None without predictions).

    Classification: :func:`mtlperf.metrics.evaluate`, per-task values keyed by task name.
    Regression: the normalised loss.
    """
    if predictions is None:
        return None
    if dataset.task_type == "regression":
        sigmas = dataset.meta.get("sigmas")
        sigmas = None if sigmas is None else np.asarray(sigmas, dtype=np.float64)[list(columns)]
        return {"normalized_loss": float(normalized_loss(predictions, labels, sigmas))}
    metrics = evaluate(labels, predictions)
    names = [dataset.task_names[c] for c in columns]
    return {
        "pr_auc": {name: float(v) for name, v in zip(names, metrics["pr_auc"])},
        "roc_auc": {name: float(v) for name, v in zip(names, metrics["roc_auc"])},
        **{k: float(metrics[k]) for k in ("mean_pr_auc", "mean_roc_auc", "pooled_pr_auc")},
        "n_single_class_tasks": int(metrics["n_single_class_tasks"]),
    }


def selection_value(
    dataset: MultiTaskDataset, metrics: dict | None, select: int | None, selection: str = "mean_pr_auc"
) -> float | None:
    """What model selection reads: ``selection`` (mean PR or ROC AUC, or task ``select``'s), or the normalised loss."""
    if metrics is None:
        return None
    if dataset.task_type == "regression":
        return metrics["normalized_loss"]
    if select is None:
        return metrics[selection]
    return list(metrics[selection.removeprefix("mean_")].values())[select]


def better(dataset: MultiTaskDataset, value: float, best: float) -> bool:
    """Is ``value`` a better validation score than ``best``? (NaN, e.g. no task with both classes, never is.)"""
    if not math.isfinite(value):
        return False
    if not math.isfinite(best):
        return True
    return value < best if dataset.task_type == "regression" else value > best


@dataclass
class Fit:
    """A finished run: the model at the selected epoch and how it got there."""

    model: torch.nn.Module
    best_epoch: int
    history: list[dict]
    steps: int
    logged_weights: np.ndarray | None  # [logged steps, T] applied weights, every ``log_every`` steps


def fit(
    batches: Batches,
    columns: Sequence[int],
    method: WeightingMethod,
    model: torch.nn.Module,
    split: Split,
    config: TrainConfig,
    *,
    select: int | None = None,
    log_weights: bool = False,
    progress: bool = False,
) -> Fit:
    """Train ``model`` on tasks ``columns`` with ``method``; keep the state of the best validation epoch.

    ``select``: choose the epoch on the validation PR AUC of that task (index into ``columns``)
    instead of the mean over tasks.
    """
    dataset, columns = batches.dataset, list(columns)
    names = [dataset.task_names[c] for c in columns]
    pos_weight = _pos_weight(dataset, split, columns, config, batches.device)
    train_step = TrainingStep(
        model, method, _adam(model, method, config), _loss_function(dataset, config, pos_weight), config.clip
    )
    valid_labels = dataset.labels[split.valid][:, columns]
    shuffle = np.random.default_rng(config.seed)
    history: list[dict] = []
    logged: list[torch.Tensor] = []
    best, best_epoch, best_state, step = None, 0, None, 0
    metric = "valid_normalized_loss" if dataset.task_type == "regression" else f"valid_{config.selection}"
    bar = tqdm(range(1, config.epochs + 1), desc=method.name, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        if method.wants_training_losses:
            method.start_epoch(
                training_set_losses(model, batches, split.train, columns, train_step.loss_function, config)
            )
        else:
            method.start_epoch()
        model.train()
        loss_sum = torch.zeros((), device=batches.device)
        weight_sum, n_weighted, n_batches = None, 0, 0
        order = shuffle.permutation(split.train)
        for rows in training_batches(order, config.batch_size):
            try:
                result = train_step(batches.inputs(rows), batches.labels(rows, columns))
            except NonFiniteLossError as error:
                raise TrainingDiverged(
                    f"task {names[error.task]!r} has a non-finite loss ({error.value}) "
                    f"at step {step + 1} (epoch {epoch})"
                ) from None
            except RuntimeError as error:  # the optimizer's update no longer fits the parameters' dtype
                if "overflow" not in str(error):
                    raise
                raise TrainingDiverged(f"the update overflowed at step {step + 1} (epoch {epoch}): {error}") from None
            loss_sum += result.losses.sum()
            if result.weights is not None:
                weights = result.weights.float()
                weight_sum = weights if weight_sum is None else weight_sum + weights
                n_weighted += 1
                if log_weights and step % config.log_every == 0:
                    logged.append(weights)
            step, n_batches = step + 1, n_batches + 1
            if config.max_steps is not None and step >= config.max_steps:
                break
        last = epoch == config.epochs or (config.max_steps is not None and step >= config.max_steps)
        entry = {
            "epoch": epoch,
            "steps": step,
            "train_loss": float(loss_sum) / max(n_batches, 1),
            "weights": None if weight_sum is None else (weight_sum / n_weighted).tolist(),
        }
        if epoch % config.eval_every == 0 or last:
            predictions = predict(model, batches, split.valid, config.batch_size)
            finite = None if predictions is None else np.isfinite(predictions).reshape(len(predictions), len(names), -1)
            if finite is not None and not finite.all():
                task = names[int(np.flatnonzero(~finite.all(axis=(0, 2)))[0])]
                raise TrainingDiverged(f"task {task!r} has non-finite validation predictions after epoch {epoch}")
            value = selection_value(
                dataset, scores(dataset, columns, valid_labels, predictions), select, config.selection
            )
            entry[metric] = value
            if value is not None and (best_state is None or better(dataset, value, best)):
                best, best_epoch = value, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bar.set_postfix({metric: value}, refresh=False)
        history.append(entry)
        if last:
            break
    if best_state is None:  # no validation rows: the last state is the model
        best_epoch = history[-1]["epoch"]
    else:
        model.load_state_dict(best_state)
    weights = torch.stack(logged).cpu().numpy() if logged else None
    return Fit(model, best_epoch, history, step, weights)


@torch.no_grad()
def training_set_losses(
    model: torch.nn.Module,
    batches: Batches,
    rows: np.ndarray,
    columns: Sequence[int],
    loss_function: LossFunction,
    config: TrainConfig,
) -> torch.Tensor:
    """The task losses [T] of ``model`` (evaluation mode) over all of ``rows``, as one batch would give them.

    Each batch's loss of task t counts by its labelled rows of t (``reduction="labelled"``) or by
    its rows (``"batch"``), so the result is the loss of the whole set, whatever the batch size.
    """
    was_training = model.training
    model.eval()
    total = count = None
    for chunk in training_batches(rows, config.batch_size):
        labels = batches.labels(chunk, columns)
        losses = loss_function(model(batches.inputs(chunk)), labels)
        labelled = torch.isfinite(labels).reshape(len(chunk), len(columns), -1).any(dim=2).sum(dim=0)
        weight = labelled if config.reduction == "labelled" else torch.full_like(labelled, len(chunk))
        total = losses * weight if total is None else total + losses * weight
        count = weight if count is None else count + weight
    model.train(was_training)
    return total / count.clamp_min(1)


def _adam(model: torch.nn.Module, method: WeightingMethod, config: TrainConfig) -> torch.optim.Adam:
    groups = [{"params": list(model.parameters()), "weight_decay": config.weight_decay}]
    if method.parameters():  # the method's own state (e.g. log-variances) is not weight-decayed
        groups.append({"params": list(method.parameters()), "weight_decay": 0.0})
    return torch.optim.Adam(groups, lr=config.lr, eps=config.adam_eps)


def _pos_weight(dataset: MultiTaskDataset, split: Split, columns: list[int], config: TrainConfig, device):
    if config.class_weights == "none":
        return None
    if dataset.task_type != "classification":
        raise ValueError("class_weights applies to classification data only")
    return class_weights(dataset.labels[split.train][:, columns], pooled=config.class_weights == "pooled").to(device)


def _loss_function(dataset: MultiTaskDataset, config: TrainConfig, pos_weight) -> LossFunction:
    if dataset.task_type == "regression":
        return regression_losses
    return lambda outputs, labels: task_losses(outputs, labels, reduction=config.reduction, pos_weight=pos_weight)


def new_model(dataset: MultiTaskDataset, n_tasks: int, config: TrainConfig, device: torch.device) -> torch.nn.Module:
    graphs = isinstance(dataset.inputs, PackedGraphs)
    if graphs and config.model not in GRAPH_MODELS:
        raise ValueError(f"{dataset.name} holds molecular graphs; only the models {', '.join(GRAPH_MODELS)} read them")
    if not graphs and config.model in GRAPH_MODELS:
        raise ValueError(f"{dataset.name} holds vectors; {config.model} reads molecular graphs (features='graphs')")
    if config.model == "sgnn-ebm":
        raise ValueError("sgnn-ebm trains by NCE, not by a weighting method: mtlperf.ebm.fit.train_sgnn_ebm")
    if config.model == "sgnn":
        if n_tasks != dataset.n_tasks:
            raise ValueError("sgnn models the relations of all tasks; it cannot train a subset of them (no STL)")
        return structured_model("sgnn", task_graph_of(dataset), config, device)
    options = {k: getattr(config, k) for k in ("hidden", "dropout") if getattr(config, k) is not None}
    options["init"] = config.init
    # one output per task unless the labels have more (MTRegression); the model kind's own width is for its data
    options["n_outputs"] = int(dataset.labels.shape[2]) if dataset.labels.ndim == 3 else 1
    return build_model(config.model, dataset.n_inputs, n_tasks, **options).to(device)


def structured_model(kind: str, graph, config: TrainConfig, device: torch.device) -> torch.nn.Module:
    """SGNN or SGNN-EBM's factor network on ``device``, its task embeddings pre-trained if ``config`` asks."""
    model = build_structured_model(kind, graph, config).to(device)
    pretrain_task_embedding(model.task_embedding, model.pairs, config.link_pretrain_epochs, config.lr, config.seed)
    return model


def check_method(name: str, hyperparameters: dict[str, Any], n_tasks: int | None = None) -> None:
    """A ValueError unless ``name`` is a registered method or a strategy taking these hyperparameters.

    With ``n_tasks`` the method is also built, so values it rejects for that many tasks are caught.
    """
    if name == RMTL_PER_TASK:
        if "task" in hyperparameters:
            raise ValueError(f"{name}: takes no task (it runs once per task); for one run use rmtl:task=K")
        if n_tasks is not None:
            create_method("rmtl", n_tasks, **hyperparameters)
        else:
            check_method("rmtl", hyperparameters)
        return
    if name in STRATEGIES:
        if hyperparameters:
            raise ValueError(f"{name}: takes no hyperparameters, got {', '.join(hyperparameters)}")
        if name == "finetune" and n_tasks is not None and n_tasks < 2:
            raise ValueError("finetune needs at least 2 tasks (it pre-trains on the other ones)")
        return
    if name not in list_methods():
        raise ValueError(f"unknown method {name!r}; valid: {', '.join([*list_methods(), *STRATEGIES])}")
    unknown = sorted(set(hyperparameters) - set(method_class(name).defaults))
    if unknown:
        valid = ", ".join(sorted(method_class(name).defaults)) or "none"
        raise ValueError(f"{name}: unknown hyperparameter(s) {', '.join(unknown)}; valid: {valid}")
    if n_tasks is not None:
        create_method(name, n_tasks, **hyperparameters)


def method_hyperparameters(dataset: MultiTaskDataset, name: str, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The method's hyperparameters, with the data's ideal weights for IdealConstant unless given."""
    hp = dict(hyperparameters)
    if name == IDEAL_CONSTANT and "weights" not in hp and dataset.meta.get("ideal_weights") is not None:
        hp["weights"] = [float(w) for w in dataset.meta["ideal_weights"]]
    return hp


def train(
    dataset: MultiTaskDataset, method_spec: str, config: TrainConfig | None = None, *, progress: bool = True
) -> dict:
    """Train ``method_spec`` (``NAME`` or ``NAME:KEY=VALUE,...``, or a strategy) on ``dataset``.

    Returns the result dictionary of docs/design.md ("Result JSON").
    """
    config = config or preset_for(dataset)
    name, given = parse_spec(method_spec)
    hp = method_hyperparameters(dataset, name, given)
    check_method(name, hp, dataset.n_tasks)
    device = resolve_device(config.device)
    batches = Batches(dataset, device)
    split = make_split(dataset, config)
    if split.train.size == 0:
        raise ValueError(f"{dataset.name}: the split left no training rows")
    started = time.perf_counter()
    per_task = name in STRATEGIES
    with deterministic_kernels(device):
        run = (_per_task if per_task else _multi_task)(batches, name, hp, split, config, progress)
    all_tasks = list(range(dataset.n_tasks))
    result = {
        "method": format_spec(name, given),
        "hyperparameters": run.pop("hyperparameters"),
        "dataset": dataset.name,
        "n_tasks": dataset.n_tasks,
        "task_names": list(dataset.task_names),
        "seed": config.seed,
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "config": json_ready(dataclasses.asdict(config)),
        "split": split.sizes(),
        "best_epoch": run["best_epoch"],
        "steps": run["steps"],
        "valid": scores(dataset, all_tasks, dataset.labels[split.valid], run["valid"]),
        "test": scores(dataset, all_tasks, dataset.labels[split.test], run["test"]),
        "history": run["history"],
        "seconds": time.perf_counter() - started,
    }
    if dataset.task_type == "regression":
        result.update(
            loss_weight_error=run.get("loss_weight_error"),
            train_normalized_loss=run.get("train_normalized_loss"),
            test_normalized_loss=None if result["test"] is None else result["test"]["normalized_loss"],
        )
    if config.save_predictions:
        result["predictions"] = {
            part: {"rows": getattr(split, part).tolist(), "scores": None if run[part] is None else run[part].tolist()}
            for part in ("valid", "test")
        }
    return result


def _multi_task(batches: Batches, name: str, hp: dict, split: Split, config: TrainConfig, progress: bool) -> dict:
    """One network for all tasks."""
    dataset, columns = batches.dataset, list(range(batches.dataset.n_tasks))
    seed_everything(config.seed)
    model = new_model(dataset, len(columns), config, batches.device)
    method = create_method(name, len(columns), **hp)
    ideal = dataset.meta.get("ideal_weights")
    run = fit(batches, columns, method, model, split, config, log_weights=ideal is not None, progress=progress)
    out = {
        "hyperparameters": json_ready(method.hparams),
        "best_epoch": run.best_epoch,
        "steps": run.steps,
        "history": run.history,
        "valid": predict(run.model, batches, split.valid, config.batch_size),
        "test": predict(run.model, batches, split.test, config.batch_size),
    }
    if dataset.task_type == "regression":
        if ideal is not None and run.logged_weights is not None:
            out["loss_weight_error"] = np.atleast_1d(loss_weight_error(run.logged_weights, ideal)).tolist()
        on_train = predict(run.model, batches, split.train, config.batch_size)
        train_scores = scores(dataset, columns, dataset.labels[split.train], on_train)
        out["train_normalized_loss"] = train_scores["normalized_loss"]
    return out


def _per_task(batches: Batches, name: str, hp: dict, split: Split, config: TrainConfig, progress: bool) -> dict:
    """One run per task k (STL, fine tuning, or RMTL emphasising k); task k's predictions come from run k.

    RMTL run k selects its epoch on task k's validation PR AUC (what that run is for). On a Dask
    worker (a sweep with ``--workers``/``--scheduler``) the task runs spread over the cluster.
    """
    dataset = batches.dataset
    one_task = partial(_task_run, dataset, name, hp, split, config)
    runs = map_on_cluster(one_task, range(dataset.n_tasks))
    if runs is None:
        tasks = tqdm(range(dataset.n_tasks), desc=f"{name} per task", unit="task", disable=not progress)
        runs = [one_task(k, batches) for k in tasks]
    predictions: dict[str, np.ndarray | None] = {"valid": None, "test": None}
    for k, run in enumerate(runs):
        for part in predictions:
            if run[part] is None:
                continue
            if predictions[part] is None:
                shape = (getattr(split, part).size, dataset.n_tasks, *run[part].shape[1:])
                predictions[part] = np.full(shape, np.nan, dtype=np.float32)
            predictions[part][:, k] = run[part]
    history = {}
    for run in runs:
        history.update(run["history"])
    return {
        "hyperparameters": json_ready(hp),
        "best_epoch": {run["task"]: run["best_epoch"] for run in runs},
        "steps": sum(run["steps"] for run in runs),
        "history": history,
        **predictions,
    }


def _task_run(
    dataset: MultiTaskDataset,
    name: str,
    hp: dict,
    split: Split,
    config: TrainConfig,
    k: int,
    batches: Batches | None = None,
) -> dict:
    """Task k's run of a per-task strategy: its best epoch, history, steps and its column of predictions.

    Without ``batches`` (on a cluster worker) it makes its own, under the deterministic kernels
    :func:`train` runs with, so the numbers are those of a run in the same process.
    """
    if batches is None:
        device = resolve_device(config.device)
        with deterministic_kernels(device):
            return _task_run(dataset, name, hp, split, config, k, Batches(dataset, device))
    n_tasks, task = dataset.n_tasks, dataset.task_names[k]
    seed_everything(config.seed)
    history, steps = {}, 0
    if name == RMTL_PER_TASK:
        model = new_model(dataset, n_tasks, config, batches.device)
        method = create_method("rmtl", n_tasks, **hp, task=k)
        run, column = fit(batches, range(n_tasks), method, model, split, config, select=k), k
    else:
        model = new_model(dataset, 1, config, batches.device)
        if name == "finetune":
            others = [t for t in range(n_tasks) if t != k]
            pre = fit(
                batches,
                others,
                create_method("constant", n_tasks - 1),
                new_model(dataset, n_tasks - 1, config, batches.device),
                split,
                config,
            )
            copy_shared(pre.model, model)
            steps += pre.steps
            history[f"{task} (pretrain)"] = pre.history
        own_rows = split.labelled_for(dataset.labels, k)
        run, column = fit(batches, [k], create_method("constant", 1), model, own_rows, config), 0
    history[task] = run.history
    out = {"task": task, "best_epoch": run.best_epoch, "steps": steps + run.steps, "history": history}
    for part in ("valid", "test"):
        predicted = predict(run.model, batches, getattr(split, part), config.batch_size)
        out[part] = None if predicted is None else predicted[:, column]
    return out


def copy_shared(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Copy every parameter and buffer outside the task heads from ``source`` into ``target``."""
    shared = {k: v for k, v in source.state_dict().items() if not k.startswith("heads.")}
    missing, unexpected = target.load_state_dict(shared, strict=False)
    if unexpected or any(not k.startswith("heads.") for k in missing):
        raise ValueError(f"fine tuning: the networks differ outside the heads ({missing + unexpected})")
