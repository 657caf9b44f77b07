"""Embedded synthetic surveillance benchmark: a fixed camera over a park with walkways, articulated pedestrians
and staged anomalies, rendered deterministically from a seed in the ShanghaiTech/Avenue frame-folder layout.

See ``docs/pipelines/synthetic.md`` for what is rendered and the files written.
"""

from .config import ANOMALY_TYPES, GENERATOR_VERSION, SIZES, config_hash, resolve_config
from .generate import generate_benchmark

__all__ = ["ANOMALY_TYPES", "GENERATOR_VERSION", "SIZES", "config_hash", "generate_benchmark", "resolve_config"]
