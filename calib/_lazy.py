"""Modules imported on first use, so that commands which never need them (and
``import calib``) do not pay for loading them."""

from __future__ import annotations

from importlib import import_module


class LazyModule:
    """Stands for a module and imports it at the first attribute access.

    >>> math = LazyModule("math")
    >>> math.sqrt(4.0)
    2.0
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        module = import_module(self._name)
        self.__dict__.update(module.__dict__)  # later accesses skip this method
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazily imported module {self._name!r}>"


def lazy_modules(*names: str) -> tuple[LazyModule, ...]:
    """``scipy.stats`` etc. as :class:`LazyModule` objects, in the order given."""
    return tuple(LazyModule(n) for n in names)
