"""The what-if explorer: one self-contained page on which a review meeting moves the MQL
cutoff, the decay, the minimum fit and the points of the rules the recommendation
changes, and sees MQLs per week, the primary outcome's rate and outcomes per week with
their intervals (:func:`explorer_grid` computes, :func:`write_explorer` draws)."""

from calib.explorer.grid import ExplorerData, explorer_grid

__all__ = ["ExplorerData", "explorer_grid", "write_explorer"]


def write_explorer(data, path):
    """Write ``explorer.html`` for an :class:`ExplorerData` (see :mod:`calib.explorer.page`)."""
    from calib.explorer.page import write_explorer as _write

    return _write(data, path)
