"""Project-specific Kedro datasets (local files, atomic saves, raw sets verified by checksums)."""

from causal_pima.datasets.array_folder_dataset import ArrayFolderDataset
from causal_pima.datasets.grouped_metrics_dataset import GroupedMetricsDataset
from causal_pima.datasets.model_dataset import CausalPIMADataset
from causal_pima.datasets.npz_dataset import NpzDataset
from causal_pima.datasets.raw_member_dataset import RawSetMemberDataset
from causal_pima.datasets.torch_checkpoint_dataset import TorchCheckpointDataset

__all__ = ["ArrayFolderDataset", "GroupedMetricsDataset", "CausalPIMADataset", "NpzDataset", "RawSetMemberDataset", "TorchCheckpointDataset"]
