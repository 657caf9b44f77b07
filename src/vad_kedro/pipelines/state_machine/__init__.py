"""``state_machine``: LPG, language-informed local patterns + S4 State Machine Module (Jiang, ICLR 2025)."""

from .pipeline import METHODS, OBJECT_METHODS, create_pipeline

__all__ = ["METHODS", "OBJECT_METHODS", "create_pipeline"]
