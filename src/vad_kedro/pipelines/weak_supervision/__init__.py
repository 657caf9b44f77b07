"""Weakly supervised VAD on snippet features: MIL ranking baseline, RTFM, MGFN, S3R."""

from .pipeline import METHODS, create_pipeline

__all__ = ["METHODS", "create_pipeline"]
