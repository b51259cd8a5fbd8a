"""The replay engine: point-in-time scoring of past leads, sweeps over many rule sets."""

from calib.engine.replay import replay
from calib.engine.results import OutcomeCounts, ReplayResult, ReplayStats, StageCounts

__all__ = ["replay", "ReplayResult", "ReplayStats", "OutcomeCounts", "StageCounts"]
