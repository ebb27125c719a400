"""Datasets that ship with vcbench."""

from vcbench.datasets.demo import DEMO_SHA256, demo, demo_path

__all__ = ["DEMO_SHA256", "demo", "demo_path"]
