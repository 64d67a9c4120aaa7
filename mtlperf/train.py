"""Training: one run of a weighting method, model selection, and the per-task strategies.

One run (:func:`fit`): one Adam over the network and the method's own parameters; each step
``losses = task_losses(model(x), y)`` -> ``method.backward(...)`` -> clip -> ``optimizer.step()``;
evaluation on the validation rows every ``eval_every`` epochs, keeping the best state in
memory (LBTW paper: best mean validation PR AUC, every epoch); test metrics at that state.
Without validation rows the last state is kept.

Strategies train one network per task and take task k's metrics from run k
(Liu, Liang & Gitter 2019, appendix): ``stl``, ``finetune``, and ``rmtl`` without ``task``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import MultiTaskDataset, PackedFingerprints, split_dataset
from .data.splits import SPLIT_KINDS
from .device import device_name, resolve_device
from .losses import REDUCTIONS, class_weights, regression_losses, task_losses
from .methods import NonFiniteLossError, WeightingMethod, create_method, list_methods, method_class, parse_spec
from .methods.base import format_spec
from .metrics import evaluate, loss_weight_error, normalized_loss
from .models import build_model

STRATEGIES = {
    "stl": "one single-task network per task; rows missing that task's label are dropped",
    "finetune": "per task: constant MTL on the other T-1 tasks, copy every non-head parameter, "
    "then train the whole network on that task",
}
IDEAL_CONSTANT = "ideal-constant"
RMTL = "rmtl"


class TrainingDiverged(FloatingPointError):
    """A task loss became NaN or infinite; the message names the task and the step."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides the data and the method (``None`` = the model's own default)."""

    model: str = "lbtw"
    init: str = "torch"  # "lbtw-code": the LBTW authors' initialisation (see mtlperf.models.build_model)
    hidden: tuple[int, ...] | None = None
    dropout: float | None = None
    epochs: int = 100
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    clip: float | None = None  # max gradient norm of the network parameters
    reduction: str = "labelled"
    class_weights: bool = False  # BCE pos_weight = negatives / positives of each task on the training rows
    split: str = "random"  # a dataset's predefined split (meta["predefined_split"]) always wins
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0
    split_seed: int | None = None  # the split's own seed, fixed across seeds; None: each seed splits anew
    device: str = "auto"
    max_steps: int | None = None
    eval_every: int = 1  # epochs
    max_rows: int | None = None  # a random sample of about this many rows, each split part shrunk alike
    save_predictions: bool = False  # put the valid/test predictions and their rows in the result
    log_every: int = 1  # steps between logged loss-weight errors (data with ideal weights)

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_every", "log_every", "max_steps", "max_rows"):
            value = getattr(self, key)
            if (value is not None or key not in ("max_steps", "max_rows")) and not _is_positive_int(value):
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"unknown loss reduction {self.reduction!r}; valid: {', '.join(REDUCTIONS)}")
        if self.split not in SPLIT_KINDS:
            raise ValueError(f"unknown split {self.split!r}; valid: {', '.join(SPLIT_KINDS)}")
        fractions = tuple(float(f) for f in self.fractions)
        if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0 or not math.isclose(sum(fractions), 1.0):
            raise ValueError(f"fractions must be 3 numbers >= 0 (train > 0) summing to 1, got {self.fractions!r}")
        if not (self.lr > 0 and self.adam_eps > 0 and self.weight_decay >= 0):
            raise ValueError("lr and adam_eps must be positive and weight_decay non-negative")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be a positive max gradient norm or None, got {self.clip!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.hidden is not None:
            hidden = tuple(self.hidden)
            if not hidden or not all(_is_positive_int(h) for h in hidden):
                raise ValueError(f"hidden must be positive layer sizes, got {self.hidden!r}")
            object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        object.__setattr__(self, "fractions", fractions)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied; ``None`` values are ignored (unset command-line options)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown training option(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


PRESETS = {
    # LBTW appendix: two 2000-unit layers, dropout 0.25, Adam, batch 1024, 100 epochs. The paper is silent
    # on the rest; from the authors' code: lr 3e-3, weight decay 5e-4, seed 123, batch-mean loss, 3/1/1 split.
    "lbtw": TrainConfig(
        model="lbtw", dropout=0.25, epochs=100, batch_size=1024, lr=3e-3, weight_decay=5e-4,
        reduction="batch", split="random", fractions=(0.6, 0.2, 0.2), seed=123,
    ),
    # SLAW appendix C (MTRegression): batch 304, lr 7e-4, clip 0.5; from the authors' code: Adam eps 1e-5
    # and 9,900 updates. The data's own 9000/1000 split has no validation set: the last state is kept.
    "slaw-mtregression": TrainConfig(
        model="mtregression", epochs=330, batch_size=304, lr=7e-4, adam_eps=1e-5, clip=0.5, max_steps=9900, seed=0,
    ),
    # SLAW section 5.3 and appendix C (PCBA): Pyramidal 2000 -> 100, 100 epochs, batch 40,000, lr 3e-4, clip 0.5,
    # class-balanced loss, 90% train / 10% test (no validation: the last state is kept); Adam eps 1e-5 from the code.
    "slaw-pcba": TrainConfig(
        model="pyramidal", epochs=100, batch_size=40_000, lr=3e-4, adam_eps=1e-5, clip=0.5, class_weights=True,
        fractions=(0.9, 0.0, 0.1), seed=0,
    ),
    # mtlperf's own minutes-long protocol for the pinned accuracy baselines (results/accuracy) and asv's tracks:
    # SLAW's recipe on a narrower Pyramidal network, small batches for the small embedded sets, and a
    # validation set for model selection (ToxCast's validation AP peaks near epoch 6). One split for all
    # seeds, so their spread is the training's alone.
    "short": TrainConfig(
        model="pyramidal", hidden=(512, 64), epochs=10, batch_size=128, lr=1e-3, adam_eps=1e-5, clip=0.5,
        class_weights=True, fractions=(0.8, 0.1, 0.1), seed=0, split_seed=0,
    ),
}


def preset_for(dataset: MultiTaskDataset) -> TrainConfig:
    """The paper settings for this data: SLAW's for regression (MTRegression), LBTW's otherwise."""
    return PRESETS["slaw-mtregression" if dataset.task_type == "regression" else "lbtw"]


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def labelled_for(self, labels: np.ndarray, task: int) -> "Split":
        """Only the rows that carry task ``task``'s label."""

        def keep(rows: np.ndarray) -> np.ndarray:
            return rows[~np.isnan(labels[rows, task].reshape(rows.size, -1)).all(axis=1)]

        return Split(keep(self.train), keep(self.valid), keep(self.test))

    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size), "valid": int(self.valid.size), "test": int(self.test.size)}


def make_split(dataset: MultiTaskDataset, config: TrainConfig) -> Split:
    """Train/valid/test rows (:func:`mtlperf.data.split_dataset`); ``max_rows`` then keeps the same random
    fraction of each part."""
    seed = config.seed if config.split_seed is None else config.split_seed
    parts = split_dataset(dataset, kind=config.split, fractions=config.fractions, seed=seed)
    split = Split(*(np.asarray(p, dtype=np.int64).reshape(-1) for p in parts))
    if config.max_rows is None or config.max_rows >= len(dataset):
        return split
    rng = np.random.default_rng(seed)
    fraction = config.max_rows / len(dataset)

    def sample(rows: np.ndarray) -> np.ndarray:
        return np.sort(rng.choice(rows, max(1, round(rows.size * fraction)), replace=False)) if rows.size else rows

    return Split(sample(split.train), sample(split.valid), sample(split.test))


class Batches:
    """Rows of a dataset as model inputs (``SparseBits`` or dense tensors) and labels, on one device."""

    def __init__(self, dataset: MultiTaskDataset, device: torch.device):
        self.dataset, self.device = dataset, device

    def inputs(self, rows: np.ndarray):
        if isinstance(self.dataset.inputs, PackedFingerprints):
            return self.dataset.inputs.batch(rows, self.device)
        return torch.as_tensor(np.asarray(self.dataset.inputs[rows], dtype=np.float32)).to(self.device)

    def labels(self, rows: np.ndarray, columns: Sequence[int]) -> torch.Tensor:
        return torch.as_tensor(self.dataset.labels[rows][:, list(columns)]).to(self.device)

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, rows: np.ndarray, batch_size: int) -> np.ndarray | None:
        """Probabilities (classification) or outputs (regression) for ``rows``; None when there are none."""
        if rows.size == 0:
            return None
        was_training = model.training
        model.eval()
        out = torch.cat([model(self.inputs(rows[i : i + batch_size])) for i in range(0, rows.size, batch_size)])
        model.train(was_training)
        if self.dataset.task_type == "classification":
            out = torch.sigmoid(out)
        return out.float().cpu().numpy()


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """Deterministic CUDA kernels while training (CPU kernels already are): same seed -> same numbers."""
    if device.type != "cuda":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS' condition for reproducible sums
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (every device): same seed and device -> same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def _selection_value(dataset: MultiTaskDataset, metrics: dict | None, select: int | None) -> float | None:
    """What model selection reads: mean (or task ``select``'s) PR AUC, or the normalised loss."""
    if metrics is None:
        return None
    if dataset.task_type == "regression":
        return metrics["normalized_loss"]
    return metrics["mean_pr_auc"] if select is None else list(metrics["pr_auc"].values())[select]


def _better(dataset: MultiTaskDataset, value: float, best: float) -> bool:
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
    optimizer = _adam(model, method, config)
    pos_weight = _pos_weight(dataset, split.train, columns, batches.device) if config.class_weights else None
    valid_labels = dataset.labels[split.valid][:, columns]
    shuffle = np.random.default_rng(config.seed)
    history: list[dict] = []
    logged: list[torch.Tensor] = []
    best, best_epoch, best_state, step = None, 0, None, 0
    metric = "valid_normalized_loss" if dataset.task_type == "regression" else "valid_mean_pr_auc"
    bar = tqdm(range(1, config.epochs + 1), desc=method.name, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        method.start_epoch()
        model.train()
        loss_sum = torch.zeros((), device=batches.device)
        weight_sum, n_weighted, n_batches = None, 0, 0
        order = shuffle.permutation(split.train)
        for start in range(0, order.size, config.batch_size):
            rows = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            losses = _losses(dataset, model(batches.inputs(rows)), batches.labels(rows, columns), config, pos_weight)
            weights = _backward(method, model, losses, names, step, epoch)
            if config.clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            loss_sum += losses.detach().sum()
            if weights is not None:
                weights = weights.detach().float()
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
            predictions = batches.predict(model, split.valid, config.batch_size)
            value = _selection_value(dataset, scores(dataset, columns, valid_labels, predictions), select)
            entry[metric] = value
            if value is not None and (best_state is None or _better(dataset, value, best)):
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


def _adam(model: torch.nn.Module, method: WeightingMethod, config: TrainConfig) -> torch.optim.Adam:
    groups = [{"params": list(model.parameters()), "weight_decay": config.weight_decay}]
    if method.parameters():  # the method's own state (e.g. log-variances) is not weight-decayed
        groups.append({"params": list(method.parameters()), "weight_decay": 0.0})
    return torch.optim.Adam(groups, lr=config.lr, eps=config.adam_eps)


def _pos_weight(dataset: MultiTaskDataset, rows: np.ndarray, columns: list[int], device) -> torch.Tensor:
    if dataset.task_type != "classification":
        raise ValueError("class_weights applies to classification data only")
    return class_weights(dataset.labels[rows][:, columns]).to(device)


def _losses(dataset: MultiTaskDataset, outputs: torch.Tensor, labels: torch.Tensor, config: TrainConfig, pos_weight):
    if dataset.task_type == "regression":
        return regression_losses(outputs, labels)
    return task_losses(outputs, labels, reduction=config.reduction, pos_weight=pos_weight)


def _backward(method, model, losses, names, step, epoch):
    try:
        return method.backward(
            losses,
            model.shared_parameters(),
            last_shared=model.last_shared_parameters(),
            heads=model.head_matrix(),
            last_shared_io=getattr(model, "last_shared_io", None),
            shared_linear_io=getattr(model, "shared_linear_io", None),
        )
    except NonFiniteLossError as error:
        raise TrainingDiverged(
            f"task {names[error.task]!r} has a non-finite loss ({error.value}) at step {step + 1} (epoch {epoch})"
        ) from None


def new_model(dataset: MultiTaskDataset, n_tasks: int, config: TrainConfig, device: torch.device) -> torch.nn.Module:
    options = {k: getattr(config, k) for k in ("hidden", "dropout") if getattr(config, k) is not None}
    options["init"] = config.init
    if dataset.task_type == "regression":
        options["n_outputs"] = int(dataset.labels.shape[2]) if dataset.labels.ndim == 3 else 1
    return build_model(config.model, dataset.n_inputs, n_tasks, **options).to(device)


def check_method(name: str, hyperparameters: dict[str, Any], n_tasks: int | None = None) -> None:
    """A ValueError unless ``name`` is a registered method or a strategy taking these hyperparameters.

    With ``n_tasks`` the method is also built, so values it rejects for that many tasks are caught.
    """
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
    per_task = name in STRATEGIES or (name == RMTL and "task" not in hp)
    with _deterministic(device):
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
        "config": _jsonable(dataclasses.asdict(config)),
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
        "hyperparameters": _jsonable(method.hparams),
        "best_epoch": run.best_epoch,
        "steps": run.steps,
        "history": run.history,
        "valid": batches.predict(run.model, split.valid, config.batch_size),
        "test": batches.predict(run.model, split.test, config.batch_size),
    }
    if dataset.task_type == "regression":
        if ideal is not None and run.logged_weights is not None:
            out["loss_weight_error"] = np.atleast_1d(loss_weight_error(run.logged_weights, ideal)).tolist()
        on_train = batches.predict(run.model, split.train, config.batch_size)
        train_scores = scores(dataset, columns, dataset.labels[split.train], on_train)
        out["train_normalized_loss"] = train_scores["normalized_loss"]
    return out


def _per_task(batches: Batches, name: str, hp: dict, split: Split, config: TrainConfig, progress: bool) -> dict:
    """One run per task k (STL, fine tuning, or RMTL emphasising k); task k's predictions come from run k.

    RMTL run k selects its epoch on task k's validation PR AUC (what that run is for).
    """
    dataset = batches.dataset
    n_tasks, labels = dataset.n_tasks, dataset.labels
    predictions: dict[str, np.ndarray | None] = {"valid": None, "test": None}
    best_epoch, history, steps = {}, {}, 0
    for k in tqdm(range(n_tasks), desc=f"{name} per task", unit="task", disable=not progress):
        seed_everything(config.seed)
        task = dataset.task_names[k]
        if name == RMTL:
            model = new_model(dataset, n_tasks, config, batches.device)
            method = create_method(RMTL, n_tasks, **hp, task=k)
            run, column = fit(batches, range(n_tasks), method, model, split, config, select=k), k
        else:
            model = new_model(dataset, 1, config, batches.device)
            if name == "finetune":
                others = [t for t in range(n_tasks) if t != k]
                pre = fit(batches, others, create_method("constant", n_tasks - 1),
                          new_model(dataset, n_tasks - 1, config, batches.device), split, config)
                copy_shared(pre.model, model)
                steps += pre.steps
                history[f"{task} (pretrain)"] = pre.history
            own_rows = split.labelled_for(labels, k)
            run, column = fit(batches, [k], create_method("constant", 1), model, own_rows, config), 0
        best_epoch[task], history[task], steps = run.best_epoch, run.history, steps + run.steps
        for part in predictions:
            rows = getattr(split, part)
            predicted = batches.predict(run.model, rows, config.batch_size)
            if predicted is None:
                continue
            if predictions[part] is None:
                predictions[part] = np.full((rows.size, n_tasks, *predicted.shape[2:]), np.nan, dtype=np.float32)
            predictions[part][:, k] = predicted[:, column]
    return {"hyperparameters": _jsonable(hp), "best_epoch": best_epoch, "steps": steps, "history": history,
            **predictions}


def copy_shared(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Copy every parameter and buffer outside the task heads from ``source`` into ``target``."""
    shared = {k: v for k, v in source.state_dict().items() if not k.startswith("heads.")}
    missing, unexpected = target.load_state_dict(shared, strict=False)
    if unexpected or any(not k.startswith("heads.") for k in missing):
        raise ValueError(f"fine tuning: the networks differ outside the heads ({missing + unexpected})")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        return value.tolist()
    return value
