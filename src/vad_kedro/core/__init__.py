"""Shared helpers used by more than one pipeline: device, seeding, metrics, smoothing, progress."""
