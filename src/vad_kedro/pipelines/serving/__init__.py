"""``package_<method>``: a method's training and scoring packaged as one registered MLflow model."""

from .pipeline import SERVABLE_PIPELINES, create_pipelines

__all__ = ["SERVABLE_PIPELINES", "create_pipelines"]
