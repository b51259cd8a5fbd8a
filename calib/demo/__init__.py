"""A synthetic lead history with a known ground truth (``calib demo``)."""

from calib.demo.world import CURRENT_RULES, DemoWorld, generate_demo

__all__ = ["CURRENT_RULES", "DemoWorld", "generate_demo"]
