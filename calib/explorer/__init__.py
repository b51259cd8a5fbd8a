"""The what-if explorer: one self-contained page on which a review meeting moves the MQL
cutoff, the decay, the minimum fit and the points of the rules the recommendation
changes, and sees MQLs per week, the primary outcome's rate and outcomes per week with
their intervals (:func:`explorer_grid` computes, :func:`write_explorer` draws)."""

from calib.explorer.grid import ExplorerData, explorer_grid

__all__ = ["ExplorerData", "explorer_grid", "write_explorer"]


def write_explorer(data, path):
    """Write ``explorer.html`` for an :class:`ExplorerData`: one self-contained page
    (Vega-Lite, its renderer inlined) that opens from disk, offline.

    Parameters
    ----------
    data : ExplorerData
        From :func:`explorer_grid`.
    path : str or Path
        The page to write.

    Returns
    -------
    Path
        The page written (``path``).

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.explorer import explorer_grid, write_explorer
    >>> rules = load_rules("calib-demo/current.toml")
    >>> data = explorer_grid(load_dataset("calib-demo/data"), rules, rules, primary="meeting")
    >>> page = write_explorer(data, "calib-demo/explorer.html")
    >>> "vega" in page.read_text(encoding="utf-8")
    True
    """
    from calib.explorer.page import _write_explorer

    return _write_explorer(data, path)
