"""``self_paced``: LBR-SPR, unsupervised anomaly discovery with normality advantage and self-paced refinement."""

from .pipeline import METHODS, OBJECT_METHODS, create_pipeline

__all__ = ["METHODS", "OBJECT_METHODS", "create_pipeline"]
