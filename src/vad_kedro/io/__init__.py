"""Custom Kedro datasets (only where kedro-datasets has none) and real-format readers."""

from .datasets import (CachedPartitionsDataset, LazyCheckpoint, LazyCheckpointDataset, NpyDataset, NpzDataset,
                       OptionalJSONDataset, OptionalPartitionedDataset, TorchStateDataset)
from .mlflow_metrics import MetricsDataset

__all__ = ["CachedPartitionsDataset", "LazyCheckpoint", "LazyCheckpointDataset", "MetricsDataset", "NpyDataset",
           "NpzDataset", "OptionalJSONDataset", "OptionalPartitionedDataset", "TorchStateDataset"]
