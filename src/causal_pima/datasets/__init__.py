"""Project-specific Kedro datasets (local files, atomic saves, raw sets verified by checksums)."""

from causal_pima.datasets.npz_dataset import NpzDataset
from causal_pima.datasets.raw_member_dataset import RawSetMemberDataset
from causal_pima.datasets.torch_checkpoint_dataset import TorchCheckpointDataset

__all__ = ["NpzDataset", "RawSetMemberDataset", "TorchCheckpointDataset"]
