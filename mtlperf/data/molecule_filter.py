"""The ChEMBL-STRING molecule filter (SGNN-EBM paper, appendix A.1), as its authors' code runs it.

The paper lists four steps: discard unparsable molecules, filter out molecules with at most 2
non-H atoms, keep only the largest molecule of a multi-species SMILES (salts, solvents), and
filter out molecular weights below 50 or above 900. The authors' ``datasets/transform.py``
(after Hu et al. 2019's ``chembl_filtered`` loader) applies the atom count and the weight to the
LARGEST FRAGMENT: the SMILES is split at '.', each species re-parsed, the first species with the
most (heavy) atoms kept; drop it when it has <= 2 atoms; keep ``50 <= MolWt <= 900``
(RDKit's average molecular weight, implicit hydrogens included). That is what runs here.
"""

from __future__ import annotations

MOLECULE_FILTERS = ("chembl-string",)
MIN_HEAVY_ATOMS = 3
MIN_WEIGHT, MAX_WEIGHT = 50.0, 900.0

# Why a molecule is dropped; the codes are what the graph cache stores per SMILES.
KEPT = 0
INVALID_SMILES = 1
OUTSIDE_VOCABULARY = 2
TOO_FEW_ATOMS = 3
WEIGHT_BELOW = 4
WEIGHT_ABOVE = 5
DROP_REASONS = {
    INVALID_SMILES: "invalid_smiles",
    OUTSIDE_VOCABULARY: "outside_vocabulary",
    TOO_FEW_ATOMS: "at_most_2_heavy_atoms",
    WEIGHT_BELOW: "molecular_weight_below_50",
    WEIGHT_ABOVE: "molecular_weight_above_900",
}


def check_molecule_filter(molecule_filter: str | None) -> None:
    if molecule_filter is not None and molecule_filter not in MOLECULE_FILTERS:
        raise ValueError(f"unknown molecule_filter {molecule_filter!r}; accepted: None, {', '.join(MOLECULE_FILTERS)}")


def largest_fragment(mol):
    """The first of the species with the most atoms, each re-parsed from the canonical SMILES (the authors' way)."""
    from rdkit import Chem

    species = [Chem.MolFromSmiles(part) for part in Chem.MolToSmiles(mol, isomericSmiles=True).split(".")]
    species = [m for m in species if m is not None]
    return max(species, key=lambda m: m.GetNumAtoms()) if species else None  # max keeps the first of equals


def chembl_string_filter(mol):
    """(the molecule to featurise or None, the reason code) for one parsed molecule."""
    from rdkit.Chem import Descriptors

    largest = largest_fragment(mol)
    if largest is None:
        return None, INVALID_SMILES
    if largest.GetNumAtoms() < MIN_HEAVY_ATOMS:
        return None, TOO_FEW_ATOMS
    weight = Descriptors.MolWt(largest)
    if weight < MIN_WEIGHT:
        return None, WEIGHT_BELOW
    if weight > MAX_WEIGHT:
        return None, WEIGHT_ABOVE
    return largest, KEPT
