"""Labelled diagnostic: how distinct the features' effects on the mean observations are, per modality.

For each true feature j, its main effect on a modality is the difference of the mean observation of
specimens with j = 1 and j = 0, averaged over the combinations of the other features. The script
prints each effect's norm and the cosines between effects. Cluster codes are assigned from cluster
mean observations (``observation_means``), so two features whose effects are (anti-)collinear in
every modality cannot be told apart by that assigner (docs/model.md "Initial clusters").

It reads the true labels of a processed model-input set: a design-time diagnostic for evaluation
only; nothing in the model or its selection uses it.

    .venv/bin/kedro run --pipelines lattice_synthetic && .venv/bin/kedro run --pipelines lattice
    .venv/bin/python benchmarks/feature_effects.py data/05_model_input/lattice/train
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from causal_pima.datasets import ArrayFolderDataset


def main_effect(values: np.ndarray, labels: np.ndarray, j: int) -> np.ndarray:
    """``[V]``: mean of ``values [N, V]`` at feature j = 1 minus at j = 0, averaged over the other
    features' combinations (those with both values of j present)."""
    others = [k for k in range(labels.shape[1]) if k != j]
    diffs = []
    for combo in itertools.product((0, 1), repeat=len(others)):
        same = np.all(labels[:, others] == combo, axis=1) if others else np.ones(len(labels), bool)
        on, off = same & (labels[:, j] == 1), same & (labels[:, j] == 0)
        if on.any() and off.any():
            diffs.append(values[on].mean(0) - values[off].mean(0))
    return np.mean(diffs, axis=0)


def report(model_input: dict[str, np.ndarray]) -> str:
    names = [str(n) for n in model_input["label_names"]]
    labels = np.asarray(model_input["labels"], dtype=np.int64)
    lines = [f"{len(labels)} specimens, features {names}", ""]
    for modality in ("images", "curves"):
        values = np.asarray(model_input[modality], dtype=np.float64).reshape(len(labels), -1)
        effects = {name: main_effect(values, labels, j) for j, name in enumerate(names)}
        norms = ", ".join(f"{name} {np.linalg.norm(e):.3f}" for name, e in effects.items())
        lines.append(f"{modality}: effect norms {norms}")
        for a, b in itertools.combinations(names, 2):
            cosine = effects[a] @ effects[b] / (np.linalg.norm(effects[a]) * np.linalg.norm(effects[b]))
            lines.append(f"  cos({a}, {b}) = {cosine:+.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a model-input set folder, e.g. data/05_model_input/lattice/train")
    print(report(ArrayFolderDataset(filepath=parser.parse_args().folder).load()))


if __name__ == "__main__":
    main()
