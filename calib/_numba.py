"""Starting numba's compiler only when something must be compiled.

The first call of a compiled function, even one numba loads from its on-disk cache,
makes numba load its registries of implementations (a few hundred modules' worth of
typing and lowering rules, 0.2-0.3 s) although code loaded from the cache is machine
code that needs none of them; only compiling does. calib's kernels are made with
:func:`njit`, which is numba's with one difference: a kernel found in numba's cache is
loaded with the runtime it calls into (numba's memory allocation) started and nothing
else; a kernel that must be compiled (the first command after installing, or after
calib changed) starts the compiler with :func:`start` first.

:func:`start` loads the registries with ``scipy.linalg`` unavailable for that moment:
one registry checks for BLAS by importing it, which with its own imports is most of a
second. calib's kernels use no BLAS, so numba then implements ``np.dot`` on vectors
with a plain loop (same results) and everything else is unchanged; a later
``import scipy.linalg`` works as usual.

Both rely on numba internals (``numba.core.caching``); when they are not as expected,
:func:`njit` returns numba's own dispatcher unchanged and :func:`start` does nothing,
so calib runs as with plain numba.
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


def _quick_cache_class():
    """numba's function cache, loading cached machine code without the registries
    (None when numba's internals are not as expected)."""
    try:
        from numba.core.caching import FunctionCache
        from numba.core.runtime.nrt import rtsys
    except ImportError:
        return None
    if not all(hasattr(FunctionCache, a) for a in ("load_overload", "_load_overload",
                                                    "_guard_against_spurious_io_errors")):
        return None

    class QuickLoadCache(FunctionCache):
        def load_overload(self, sig, target_context):
            # numba's own method refreshes the whole target context first
            rtsys.initialize(target_context)  # allocation, called by the cached code
            with self._guard_against_spurious_io_errors():
                cres = self._load_overload(sig, target_context)
                if cres is None:
                    start()  # not cached: numba compiles it next
                return cres
            start()  # an I/O error was swallowed: numba compiles it next
            return None

    return QuickLoadCache


_QUICK = None


def njit(*args, **kwargs):
    """``numba.njit``, loading the kernel from numba's cache without starting the
    compiler (see the module's docstring).

    Parameters
    ----------
    *args, **kwargs
        As for ``numba.njit``; the quick load applies with ``cache=True``.

    Returns
    -------
    numba's dispatcher, or a decorator making one.

    Examples
    --------
    >>> import numpy as np
    >>> @njit(cache=False)
    ... def total(a):
    ...     return a.sum()
    >>> float(total(np.ones(3)))
    3.0
    """
    import numba

    global _QUICK
    if _QUICK is None:
        _QUICK = _quick_cache_class() or False

    def quick(dispatcher):
        cache = getattr(dispatcher, "_cache", None)
        if _QUICK and type(cache) is _QUICK.__mro__[1]:
            cache.__class__ = _QUICK
        return dispatcher

    made = numba.njit(*args, **kwargs)
    if args and callable(args[0]):
        return quick(made)
    return lambda fn: quick(made(fn))
