"""The PCBA-shaped synthetic generator and MTRegression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mtlperf.data import load_dataset, split_dataset
from mtlperf.data.mtregression import ideal_weights
from mtlperf.data.pcba import pcba_task_stats
from mtlperf.data.synthetic import load_ecfp_stats, synthetic_pcba

N = 6000


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_pcba(n_molecules=N, seed=7)


def test_shape_and_storage(synthetic):
    assert len(synthetic) == N and synthetic.n_tasks == 128 and synthetic.labels.shape == (N, 128)
    assert synthetic.task_names[0] == "syn-PCBA-1030" and synthetic.smiles is None
    assert synthetic.inputs.n_bits == 2048 and synthetic.inputs.indices.dtype == np.int16
    assert synthetic.labels.dtype == np.float32


def test_fingerprint_density_matches_real_molecules(synthetic):
    frequency, quantiles = load_ecfp_stats()
    per_molecule = synthetic.inputs.bits_per_row()
    assert abs(per_molecule.mean() - quantiles.mean()) < 3  # about 70 set bits, as MUV
    assert abs(np.median(per_molecule) - quantiles[50]) < 4
    generated = np.bincount(synthetic.inputs.indices.astype(np.int64), minlength=2048) / N
    assert np.abs(generated - frequency).max() < 0.03
    assert np.corrcoef(generated, frequency)[0, 1] > 0.99


def test_rates_follow_pcba(synthetic):
    positive, missing = pcba_task_stats()
    labelled = ~np.isnan(synthetic.labels)
    np.testing.assert_allclose(1 - labelled.mean(axis=0), missing, atol=0.03)
    dense_tasks = missing < 0.6  # enough labelled molecules for a tight estimate
    np.testing.assert_allclose(np.nanmean(synthetic.labels, axis=0)[dense_tasks], positive[dense_tasks], atol=0.01)
    assert set(np.unique(synthetic.labels[labelled])) == {0.0, 1.0}


def test_same_seed_same_data_and_task_prefix_stable(synthetic):
    again = synthetic_pcba(n_molecules=N, seed=7)
    np.testing.assert_array_equal(again.labels, synthetic.labels)
    np.testing.assert_array_equal(again.inputs.indices, synthetic.inputs.indices)
    few = synthetic_pcba(n_molecules=N, n_tasks=5, seed=7)
    np.testing.assert_array_equal(few.labels, synthetic.labels[:, :5])
    other = synthetic_pcba(n_molecules=N, n_tasks=5, seed=8)
    assert not np.array_equal(other.inputs.indptr, synthetic.inputs.indptr)


def test_labels_are_learnable_from_fingerprints(synthetic):
    positive, missing = pcba_task_stats()
    task = int(np.argmax(np.where(missing < 0.5, positive, 0)))  # a common, well-labelled task
    rows = np.flatnonzero(~np.isnan(synthetic.labels[:, task]))
    x, y = synthetic.inputs.dense(rows), synthetic.labels[rows, task]
    half = rows.size // 2
    model = LogisticRegression(C=0.1, solver="liblinear").fit(x[:half], y[:half])
    assert roc_auc_score(y[half:], model.predict_proba(x[half:])[:, 1]) > 0.7


def test_folded_fingerprints_and_bad_sizes():
    folded = synthetic_pcba(n_molecules=200, n_tasks=2, n_bits=1024, seed=1)
    full = synthetic_pcba(n_molecules=200, n_tasks=2, n_bits=2048, seed=1)
    assert folded.inputs.n_bits == 1024 and folded.inputs.indices.max() < 1024
    # Folding is bit j -> j mod 1024, as RDKit folds: same molecules, OR of the two halves.
    dense = full.inputs.dense(range(200))
    np.testing.assert_array_equal(folded.inputs.dense(range(200)), np.maximum(dense[:, :1024], dense[:, 1024:]))
    with pytest.raises(ValueError, match="n_bits must divide 2048"):
        synthetic_pcba(n_molecules=10, n_bits=1000)
    with pytest.raises(ValueError, match="n_molecules must be a positive integer"):
        synthetic_pcba(n_molecules=0)
    with pytest.raises(ValueError, match="n_tasks=129 .* only 128"):
        synthetic_pcba(n_molecules=10, n_tasks=129)


def test_load_dataset_synthetic_options():
    data = load_dataset("synthetic-pcba", n_tasks=3, n_molecules=500, seed=2, slaw_filter=True)
    assert data.n_tasks == 3 and data.meta["slaw_filter"] is True
    assert (~np.isnan(data.labels)).any(axis=1).all()  # rows without a label in the kept tasks are gone
    assert len(data) + data.meta["dropped_unlabelled"] == 500
    with pytest.raises(ValueError, match="unknown option.*radius"):
        load_dataset("synthetic-pcba", radius=2)


def test_mtregression_shapes_weights_and_split():
    data = load_dataset("mtregression", seed=3)
    assert data.task_type == "regression" and data.n_tasks == 10
    assert data.inputs.shape == (10000, 250) and data.inputs.dtype == np.float32
    assert data.labels.shape == (10000, 10, 100) and data.labels.dtype == np.float32
    np.testing.assert_array_equal(data.meta["sigmas"], np.arange(1, 11))
    np.testing.assert_allclose(
        data.meta["ideal_weights"],
        [6.453, 1.613, 0.717, 0.403, 0.258, 0.179, 0.132, 0.101, 0.0797, 0.0645],
        atol=5e-4,  # the notes give 3 significant figures
    )
    assert data.meta["ideal_weights"].sum() == pytest.approx(10)
    train, valid, test = split_dataset(data, "random", seed=99)  # the predefined split wins
    np.testing.assert_array_equal(train, np.arange(9000))
    assert valid.size == 0 and np.array_equal(test, np.arange(9000, 10000))
    assert abs(data.inputs.std() - 0.01) < 1e-3
    # y_i = sigma_i * tanh(...): task i's spread is i times task 1's.
    spread = data.labels.std(axis=(0, 2))
    np.testing.assert_allclose(spread / spread[0], np.arange(1, 11), rtol=0.1)
    again = load_dataset("mtregression", seed=3)
    np.testing.assert_array_equal(again.labels, data.labels)
    with pytest.raises(ValueError, match="exactly 10 tasks"):
        load_dataset("mtregression", n_tasks=4)


def test_ideal_weights_formula():
    np.testing.assert_allclose(ideal_weights([1.0, 2.0]), [2 * 1 / 1.25, 2 * 0.25 / 1.25])
