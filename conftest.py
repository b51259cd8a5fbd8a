"""What the tests (``tests/``) and the doctests (``calib/``) share.

pytest reads this file before ``tests/conftest.py`` and ``calib/conftest.py``, for
whichever of the two folders a run collects.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_data_cache(tmp_path_factory):
    """The whole run uses its own data-set cache folder, never the user's: session-wide
    fixtures load data before any per-test cache folder is set."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CALIB_CACHE_DIR", str(tmp_path_factory.mktemp("calib-cache-session")))
    yield
    mp.undo()
