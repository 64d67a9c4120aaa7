"""Training SGNN-EBM (section 5.4): a backbone q, then the energy network by NCE against q, predictions by Gibbs.

1. The backbone: a multi-task model trained as usual (:func:`mtlperf.train.fit`; SGNN with
   equal weights by default, or any model and weighting method, as the paper's Table 3 does). Its
   logits on every molecule of the data set form the noise table ``q`` [N, T].
2. The energy network (:class:`~mtlperf.models.sgnn.SGNNEnergy`), trained by NCE with the tilting
   term (:func:`~mtlperf.ebm.nce.nce_loss`): per batch one noise label vector per molecule drawn
   from ``q``; the missing labels of the data filled from that same draw (section 5.4.1; the
   authors' code fills them so).
3. Predictions: Gibbs marginals of the tilted model ``q exp(-E)`` (:func:`~mtlperf.ebm.gibbs.gibbs_marginals`);
   model selection on validation mean ROC AUC, as the paper.

Noise: ``fixed`` keeps the backbone's ``q``; ``adaptive`` replaces ``q`` on every molecule by the
current model's marginals every ``adaptive_every`` epochs from epoch ``adaptive_start`` (the code's
schedule: every 5 epochs from ``filling_missing_data_fine_tuned_epoch``); ``uniform`` is ``q = 1/2``
(no backbone; missing labels drawn at random).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data import MultiTaskDataset
from ..data.batches import Batches, training_batches
from ..data.relations import task_graph_of
from ..determinism import deterministic_kernels, seed_everything
from ..device import device_name, resolve_device
from ..io import json_ready
from ..methods import create_method, parse_spec
from ..train import better, fit, make_split, new_model, scores, selection_value, structured_model
from .energy import LAMBDA
from .gibbs import ESTIMATES, SWEEPS, colour_classes, gibbs_marginals
from .step import EnergyStep

NOISES = ("fixed", "adaptive", "uniform")
ADAPTIVE_EVERY = 5  # epochs between refreshes of the adaptive noise (the authors' eval_every_n_epochs)


@dataclass(frozen=True)
class EnergySettings:
    """What SGNN-EBM adds to a :class:`~mtlperf.config.TrainConfig` (which sets the epochs, batch, lr, ...)."""

    noise: str = "fixed"
    lam: float = LAMBDA
    sweeps: int = SWEEPS  # Gibbs sweeps per prediction
    estimate: str = "average"
    tilted: bool = True  # False: the code's untilted NCE (see mtlperf.ebm.nce)
    backbone: str = "constant"  # the weighting method of the backbone (noise) model
    backbone_model: str = "sgnn"  # or "gin": MTL on GIN, the paper's Table 3 rows
    backbone_epochs: int | None = None  # None: the run's epochs
    adaptive_start: int | None = None  # None: half the epochs
    adaptive_every: int = ADAPTIVE_EVERY

    def __post_init__(self) -> None:
        if self.noise not in NOISES:
            raise ValueError(f"unknown noise {self.noise!r}; valid: {', '.join(NOISES)}")
        if self.estimate not in ESTIMATES:
            raise ValueError(f"unknown estimate {self.estimate!r}; valid: {', '.join(ESTIMATES)}")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        for key in ("sweeps", "adaptive_every"):
            if not (isinstance(getattr(self, key), int) and getattr(self, key) >= 1):
                raise ValueError(f"{key} must be an integer >= 1, got {getattr(self, key)!r}")
        if self.backbone_model not in ("sgnn", "gin"):
            raise ValueError(f"backbone_model must be sgnn or gin, got {self.backbone_model!r}")
        parse_spec(self.backbone)


def train_sgnn_ebm(
    dataset: MultiTaskDataset, config: TrainConfig, settings: EnergySettings | None = None, *, progress: bool = True
) -> dict:
    """Train SGNN-EBM on ``dataset`` (molecular graphs with a task graph); the result dict of ``mtlperf train``."""
    settings = settings or EnergySettings()
    graph = task_graph_of(dataset)
    device = resolve_device(config.device)
    batches = Batches(dataset, device)
    split = make_split(dataset, config)
    if split.train.size == 0:
        raise ValueError(f"{dataset.name}: the split left no training rows")
    started = time.perf_counter()
    with deterministic_kernels(device):
        backbone = None
        if settings.noise != "uniform":
            backbone = _backbone(batches, split, config, settings, progress)
            noise_logits = backbone.pop("logits")
        else:
            noise_logits = torch.zeros(len(dataset), dataset.n_tasks, device=device)
        run = _fit_energy(batches, split, config, settings, graph, noise_logits, progress)
    result = {
        "method": "sgnn-ebm",
        "settings": json_ready(dataclasses.asdict(settings)),
        "dataset": dataset.name,
        "n_tasks": dataset.n_tasks,
        "n_edges": graph.n_edges,
        "task_names": list(dataset.task_names),
        "seed": config.seed,
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "config": json_ready(dataclasses.asdict(config)),
        "split": split.sizes(),
        "best_epoch": run["best_epoch"],
        "steps": run["steps"],
        "valid": scores(dataset, range(dataset.n_tasks), dataset.labels[split.valid], run["valid"]),
        "test": scores(dataset, range(dataset.n_tasks), dataset.labels[split.test], run["test"]),
        "history": run["history"],
        "backbone": backbone,
        "seconds": time.perf_counter() - started,
    }
    return result


def _backbone(batches: Batches, split, config: TrainConfig, settings: EnergySettings, progress: bool) -> dict:
    """Train the noise model; its test scores and its logits on every molecule (``logits`` [N, T])."""
    dataset = batches.dataset
    name, hyperparameters = parse_spec(settings.backbone)
    backbone_config = config.replace(model=settings.backbone_model, epochs=settings.backbone_epochs)
    seed_everything(config.seed)
    model = new_model(dataset, dataset.n_tasks, backbone_config, batches.device)
    method = create_method(name, dataset.n_tasks, **hyperparameters)
    run = fit(batches, range(dataset.n_tasks), method, model, split, backbone_config, progress=progress)
    logits = _logits(run.model, batches, np.arange(len(dataset)), config.batch_size)
    test = torch.sigmoid(logits[torch.as_tensor(split.test, device=logits.device)]).cpu().numpy()
    return {
        "method": settings.backbone,
        "model": settings.backbone_model,
        "best_epoch": run.best_epoch,
        "test": scores(dataset, range(dataset.n_tasks), dataset.labels[split.test], test if split.test.size else None),
        "logits": logits,
    }


@torch.no_grad()
def _logits(model: torch.nn.Module, batches: Batches, rows: np.ndarray, batch_size: int) -> torch.Tensor:
    model.eval()
    out = torch.cat([model(batches.inputs(rows[i : i + batch_size])) for i in range(0, rows.size, batch_size)])
    model.train()
    return out.float()


def _fit_energy(batches, split, config, settings, graph, noise_logits, progress) -> dict:
    dataset, device = batches.dataset, batches.device
    seed_everything(config.seed)
    model = structured_model("sgnn-ebm", graph, config, device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, eps=config.adam_eps, weight_decay=config.weight_decay
    )
    pairs, classes = model.pairs, colour_classes(dataset.n_tasks, model.pairs)
    sampler = torch.Generator(device=device).manual_seed(config.seed)
    step_once = EnergyStep(model, optimizer, settings.lam, settings.tilted, config.clip, sampler)
    shuffle = np.random.default_rng(config.seed)
    all_tasks = list(range(dataset.n_tasks))
    adaptive_start = settings.adaptive_start or max(1, config.epochs // 2)
    history, best, best_epoch, best_state, step = [], None, 0, None, 0

    def marginals(rows: np.ndarray) -> np.ndarray | None:
        if rows.size == 0:
            return None
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, rows.size, config.batch_size):
                chunk = rows[i : i + config.batch_size]
                nodes, edges = model(batches.inputs(chunk))
                prior = noise_logits[torch.as_tensor(chunk, device=device)]
                estimate = gibbs_marginals(
                    nodes,
                    edges,
                    pairs,
                    prior,
                    lam=settings.lam,
                    sweeps=settings.sweeps,
                    estimate=settings.estimate,
                    generator=sampler,
                    classes=classes,
                )
                out.append(estimate)
        model.train()
        return torch.cat(out).cpu().numpy()

    bar = tqdm(range(1, config.epochs + 1), desc="sgnn-ebm", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        loss_sum, n_batches = 0.0, 0
        for rows in training_batches(shuffle.permutation(split.train), config.batch_size):
            labels = batches.labels(rows, range(dataset.n_tasks))
            prior = noise_logits[torch.as_tensor(rows, device=device)]
            loss = step_once(batches.inputs(rows), labels, prior).losses[0]
            loss_sum, n_batches, step = loss_sum + loss.item(), n_batches + 1, step + 1
            if config.max_steps is not None and step >= config.max_steps:
                break
        if not math.isfinite(loss_sum):
            from ..train import TrainingDiverged

            raise TrainingDiverged(f"the NCE loss is not finite at epoch {epoch}")
        last = epoch == config.epochs or (config.max_steps is not None and step >= config.max_steps)
        entry = {"epoch": epoch, "steps": step, "train_loss": loss_sum / max(n_batches, 1)}
        if (
            settings.noise == "adaptive"
            and epoch >= adaptive_start
            and (epoch - adaptive_start) % settings.adaptive_every == 0
        ):
            refreshed = torch.as_tensor(marginals(np.arange(len(dataset))), device=device).clamp(1e-6, 1 - 1e-6)
            noise_logits = torch.logit(refreshed)
            entry["noise_refreshed"] = True
        if epoch % config.eval_every == 0 or last:
            valid = marginals(split.valid)
            value = selection_value(
                dataset, scores(dataset, all_tasks, dataset.labels[split.valid], valid), None, config.selection
            )
            entry[f"valid_{config.selection}"] = value
            if value is not None and (best_state is None or better(dataset, value, best)):
                best, best_epoch = value, epoch
                best_state = ({k: v.detach().clone() for k, v in model.state_dict().items()}, noise_logits.clone())
        history.append(entry)
        if last:
            break
    if best_state is None:
        best_epoch = history[-1]["epoch"]
    else:
        model.load_state_dict(best_state[0])
        noise_logits = best_state[1]
    return {
        "best_epoch": best_epoch,
        "steps": step,
        "history": history,
        "valid": marginals(split.valid),
        "test": marginals(split.test),
    }
