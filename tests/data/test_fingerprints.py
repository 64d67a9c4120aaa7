"""Morgan fingerprints: exact bits, compact CSR storage, batches, and the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem, DataStructs
from rdkit.Chem import rdMolDescriptors

import mtlperf.data.fingerprints as fp_module
from mtlperf.data import PackedFingerprints, cached_fingerprints, featurise_smiles
from mtlperf.sparse import SparseBits

SMILES = ["CCO", "c1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "C[C@H](N)C(=O)O"]


def rdkit_dense(smiles, n_bits, radius):
    """RDKit's own dense bit vector, through the older, independent Morgan entry point."""
    bits = rdMolDescriptors.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(smiles), radius, nBits=n_bits)
    array = np.zeros(n_bits)
    DataStructs.ConvertToNumpyArray(bits, array)
    return array.astype(np.float32)


@pytest.mark.parametrize("n_bits, radius", [(2048, 4), (1024, 2)])
def test_bits_equal_rdkit_dense_fingerprint(n_bits, radius):
    packed, valid = featurise_smiles(SMILES, n_bits=n_bits, radius=radius)
    assert valid.all() and packed.n_bits == n_bits
    expected = np.stack([rdkit_dense(s, n_bits, radius) for s in SMILES])
    np.testing.assert_array_equal(packed.dense(range(len(SMILES))), expected)


def test_defaults_are_slaw_2048_bits_radius_4():
    default, _ = featurise_smiles(SMILES[1:2])
    np.testing.assert_array_equal(default.dense([0])[0], rdkit_dense(SMILES[1], 2048, 4))


def test_storage_is_csr_with_int16_indices():
    packed, _ = featurise_smiles(SMILES)
    assert packed.indptr.dtype == np.int64 and packed.indptr.shape == (len(SMILES) + 1,)
    assert packed.indices.dtype == np.int16 and packed.indices.size == packed.indptr[-1]
    wide, _ = featurise_smiles(SMILES[:1], n_bits=40000, radius=2)
    assert wide.indices.dtype == np.int32


def test_invalid_smiles_are_masked_not_fatal():
    packed, valid = featurise_smiles(["CCO", "C1CC", "", "nonsense", "CCN"])
    np.testing.assert_array_equal(valid, [True, False, False, False, True])
    assert len(packed) == 2


def test_batch_equals_dense_in_any_row_order():
    packed, _ = featurise_smiles(SMILES)
    rows = [3, 0, 3, 4]
    batch = packed.batch(rows)
    assert isinstance(batch, SparseBits) and len(batch) == 4 and batch.n_bits == 2048
    assert batch.indices.dtype == torch.int64 and batch.offsets.dtype == torch.int64
    torch.testing.assert_close(batch.to_dense(), torch.from_numpy(packed.dense(rows)))
    np.testing.assert_array_equal(packed.take(rows).dense(range(4)), packed.dense(rows))
    assert packed.dense([]).shape == (0, 2048) and len(packed.batch([])) == 0
    with pytest.raises(ValueError, match="out of range"):
        packed.batch([len(SMILES)])


def test_packed_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="indptr ends at 3"):
        PackedFingerprints(np.array([0, 3]), np.array([1, 2], dtype=np.int16), 8)


def test_cache_hit_skips_featurisation_and_key_follows_settings(tmp_path, monkeypatch):
    calls = []
    real = fp_module.featurise_smiles

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(fp_module, "featurise_smiles", counting)
    first, valid = cached_fingerprints(SMILES + ["bad("], directory=tmp_path)
    again, valid_again = cached_fingerprints(SMILES + ["bad("], directory=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(again.indices, first.indices)
    np.testing.assert_array_equal(again.indptr, first.indptr)
    np.testing.assert_array_equal(valid_again, valid)
    assert again.indices.dtype == np.int16

    cached_fingerprints(SMILES + ["bad("], n_bits=1024, directory=tmp_path)
    cached_fingerprints(SMILES + ["bad("], radius=2, directory=tmp_path)
    cached_fingerprints(SMILES[::-1], directory=tmp_path)
    assert len(calls) == 4
    files = sorted(p.name for p in (tmp_path / "fingerprints").iterdir())
    assert len(files) == 4 and all(name.endswith(".npz") for name in files)  # no temporary files left

    cached_fingerprints(SMILES, cache=False, directory=tmp_path)
    assert len(calls) == 5 and len(list((tmp_path / "fingerprints").iterdir())) == 4


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLPERF_CACHE", str(tmp_path / "env-cache"))
    cached_fingerprints(SMILES[:2])
    assert len(list((tmp_path / "env-cache" / "fingerprints").glob("*.npz"))) == 1


@pytest.mark.parametrize("option", [{"n_bits": 0}, {"n_bits": 2.5}, {"radius": -1}])
def test_bad_settings(option):
    with pytest.raises(ValueError, match="n_bits must be a positive integer|radius must be a non-negative integer"):
        featurise_smiles(SMILES, **option)


def test_worker_processes_give_the_same_result(monkeypatch):
    monkeypatch.setattr(fp_module, "_PARALLEL_FROM", 1)
    monkeypatch.setattr(fp_module, "_CHUNK", 2)  # several chunks, so their order matters
    smiles = SMILES + ["C1CC"] + SMILES[::-1]
    parallel, valid_parallel = featurise_smiles(smiles, workers=2)
    serial, valid_serial = featurise_smiles(smiles, workers=1)
    np.testing.assert_array_equal(valid_parallel, valid_serial)
    np.testing.assert_array_equal(parallel.indptr, serial.indptr)
    np.testing.assert_array_equal(parallel.indices, serial.indices)
