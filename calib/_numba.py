"""Starting numba's compiler without the imports calib's kernels never use.

The first call of any compiled function, even one loaded from numba's on-disk cache,
loads numba's registries of implementations. One of them checks for BLAS by importing
``scipy.linalg``, which with its own imports is most of a second, in every command.
calib's kernels use no BLAS, so :func:`start` loads the registries once with
``scipy.linalg`` unavailable for that moment: numba then implements ``np.dot`` on
vectors with a plain loop (same results) and everything else is unchanged; a later
``import scipy.linalg`` works as usual.
"""

from __future__ import annotations

import sys

_started = False


def start() -> None:
    """Load numba's registries (idempotent; cheap after the first call)."""
    global _started
    if _started:
        return
    _started = True
    blocked = "scipy.linalg" not in sys.modules
    if blocked:
        sys.modules["scipy.linalg"] = None  # `import scipy.linalg` raises ImportError
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
        cpu_target.typing_context.refresh()
    except Exception:  # noqa: BLE001, S110 - numba internals moved: it loads them later itself
        pass
    finally:
        if blocked and sys.modules.get("scipy.linalg", False) is None:
            del sys.modules["scipy.linalg"]
