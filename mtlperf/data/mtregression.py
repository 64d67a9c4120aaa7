"""MTRegression (Chen et al. 2018, GradNorm; as generated in the SLAW code): T regression
tasks that differ only in scale, so the ideal loss weights are known.

    y_i = sigma_i * tanh((B + eps_i) x),   sigma_i = i (i = 1..T),
    B ~ N(0, 10^2), eps_i ~ N(0, 3.5^2) (both 100 x 250, drawn once), x ~ N(0, 0.01^2) in R^250.

Ideal weights ``w*_i = T sigma_i^-2 / sum_j sigma_j^-2`` (6.453, 1.613, 0.717, ... for T = 10).
"""

from __future__ import annotations

import numpy as np

from .dataset import MultiTaskDataset

N_TASKS = 10
N_INPUTS, N_OUTPUTS = 250, 100
B_SD, EPS_SD, X_SD = 10.0, 3.5, 0.01
N_TRAIN, N_TEST = 9000, 1000


def ideal_weights(sigmas: np.ndarray) -> np.ndarray:
    """``T * sigma_i^-2 / sum_j sigma_j^-2``: the weights that equalise the tasks' loss scales."""
    inverse_variance = np.asarray(sigmas, dtype=np.float64) ** -2
    return inverse_variance.size * inverse_variance / inverse_variance.sum()


def mtregression(seed: int = 0, n_tasks: int | None = None) -> MultiTaskDataset:
    """10,000 examples: inputs float32 [N, 250], labels float32 [N, 10, 100]; rows 0..8999 train, the rest test."""
    if n_tasks not in (None, N_TASKS):
        raise ValueError(f"mtregression has exactly {N_TASKS} tasks; n_tasks must be None or 10, got {n_tasks!r}")
    rng = np.random.default_rng(seed)
    sigmas = np.arange(1, N_TASKS + 1, dtype=np.float64)
    base = rng.normal(0.0, B_SD, size=(N_OUTPUTS, N_INPUTS))
    task_noise = rng.normal(0.0, EPS_SD, size=(N_TASKS, N_OUTPUTS, N_INPUTS))
    x = rng.normal(0.0, X_SD, size=(N_TRAIN + N_TEST, N_INPUTS))
    n = N_TRAIN + N_TEST
    pre_activation = (x @ (base + task_noise).reshape(N_TASKS * N_OUTPUTS, N_INPUTS).T).reshape(n, N_TASKS, N_OUTPUTS)
    y = sigmas[None, :, None] * np.tanh(pre_activation)
    return MultiTaskDataset(
        name="mtregression",
        task_names=[f"task{i}" for i in range(1, N_TASKS + 1)],
        inputs=x.astype(np.float32),
        labels=y.astype(np.float32),
        task_type="regression",
        smiles=None,
        meta={
            "seed": seed,
            "sigmas": sigmas,
            "ideal_weights": ideal_weights(sigmas),
            "predefined_split": {
                "train": np.arange(N_TRAIN),
                "valid": np.arange(0),
                "test": np.arange(N_TRAIN, n),
            },
        },
    )
