"""Project-specific Kedro datasets (local files, atomic saves)."""

from causal_pima.datasets.npz_dataset import NpzDataset
from causal_pima.datasets.torch_checkpoint_dataset import TorchCheckpointDataset

__all__ = ["NpzDataset", "TorchCheckpointDataset"]
