"""``two_stream``: CRKR, context recovery (STUNet + MLE) and knowledge retrieval (iL2SH hashing), fused."""

from .pipeline import METHODS, create_pipeline

__all__ = ["METHODS", "create_pipeline"]
