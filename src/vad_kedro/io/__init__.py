"""Custom Kedro datasets (only where kedro-datasets has none) and real-format readers."""

from .datasets import NpyDataset, NpzDataset, OptionalJSONDataset, TorchStateDataset

__all__ = ["NpyDataset", "NpzDataset", "OptionalJSONDataset", "TorchStateDataset"]
