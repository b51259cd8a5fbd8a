"""Look at a report the way its readers do: in a real Chromium, on a desktop, on a phone
and printed on A4.

Used by the report's browser tests and to write the page-1 screenshots that sit beside an
example report (``python -m calib.report.browser reports/demo``). Needs the optional
``playwright`` package and a Chromium already installed on the machine (Debian's
``chromium`` package); it never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from calib.errors import CalibError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 400, "height": 860}
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """The Chromium executable: ``$CALIB_CHROMIUM``, else a system one, else None.

    Returns
    -------
    str or None
        The path of the executable.

    Examples
    --------
    >>> from pathlib import Path
    >>> path = find_chromium()
    >>> path is None or Path(path).exists()
    True
    """
    env = os.environ.get("CALIB_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for c in CANDIDATES:
        if Path(c).exists():
            return c
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found


def unavailable() -> str | None:
    """Why a report cannot be looked at in a browser here, or None when it can.

    Returns
    -------
    str or None
        The reason, with what to install.

    Examples
    --------
    >>> reason = unavailable()
    >>> reason is None or "install" in reason
    True
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if find_chromium() is None:
        return "no Chromium is installed (apt-get install chromium)"
    return None


@contextmanager
def chromium():
    """A headless system Chromium driven by playwright.

    Yields
    ------
    playwright Browser
        Closed when the ``with`` block ends.

    Raises
    ------
    CalibError
        ``no_browser`` when playwright or Chromium is missing (:func:`unavailable`).

    Examples
    --------
    This needs Chromium, so the doctests skip it:

    >>> with chromium() as browser:  # doctest: +SKIP
    ...     browser.is_connected()
    True
    """
    reason = unavailable()
    if reason:
        raise CalibError(f"Cannot open a browser: {reason}.", code="no_browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_report(browser, html: Path, viewport: dict):
    """A page showing ``html`` at ``viewport``, with the page errors it raised collected
    in ``page.calib_errors``.

    Parameters
    ----------
    browser : playwright Browser
        From :func:`chromium`.
    html : Path
        The report's ``report.html``.
    viewport : dict
        ``{"width": ..., "height": ...}`` in CSS pixels (e.g. ``DESKTOP``, ``PHONE``).

    Returns
    -------
    playwright Page
        Loaded; close it when done.

    Examples
    --------
    This needs Chromium and a written report, so the doctests skip it:

    >>> with chromium() as browser:  # doctest: +SKIP
    ...     page = open_report(browser, Path("reports/demo/report.html"), PHONE)
    ...     page.calib_errors
    []
    """
    page = browser.new_page(viewport=viewport)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.calib_errors = errors
    page.goto(Path(html).resolve().as_uri())
    page.wait_for_load_state("load")
    return page


def screenshots(folder, out=None, browser=None) -> list[Path]:
    """Write ``page1-desktop.png`` (1280 px wide) and ``page1-phone.png`` (400 px) of
    the report in ``folder``.

    Parameters
    ----------
    folder : str or Path
        A report folder (holding ``report.html``).
    out : str or Path, optional
        Where to write the PNGs; default: the report folder.
    browser : playwright Browser, optional
        An open one (from :func:`chromium`); default: start one.

    Returns
    -------
    list of Path
        The two screenshots.

    Examples
    --------
    This needs Chromium and a written report, so the doctests skip it:

    >>> screenshots("reports/demo")  # doctest: +SKIP
    [PosixPath('reports/demo/page1-desktop.png'), PosixPath('reports/demo/page1-phone.png')]
    """
    folder = Path(folder)
    html = folder / "report.html"
    if not html.exists():
        raise CalibError(f"'{folder}' holds no report.html.", code="not_found")
    out = Path(out) if out else folder
    out.mkdir(parents=True, exist_ok=True)
    if browser is None:
        with chromium() as b:
            return screenshots(folder, out, b)
    paths = []
    for name, vp in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_report(browser, html, vp)
        path = out / f"page1-{name}.png"
        page.screenshot(path=str(path), full_page=False)
        page.close()
        paths.append(path)
    return paths


def print_pdf(folder, path) -> Path:
    """Print the report in ``folder`` to an A4 PDF at ``path``, as a browser would.

    Parameters
    ----------
    folder : str or Path
        A report folder (holding ``report.html``).
    path : str or Path
        The PDF to write.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    This needs Chromium and a written report, so the doctests skip it:

    >>> print_pdf("reports/demo", "review.pdf")  # doctest: +SKIP
    PosixPath('review.pdf')
    """
    with chromium() as browser:
        page = open_report(browser, Path(folder) / "report.html", DESKTOP)
        page.pdf(path=str(path), format="A4", print_background=True)
        page.close()
    return Path(path)


def main(argv=None) -> None:
    """``python -m calib.report.browser FOLDER [--out DIR] [--pdf FILE]``: the
    screenshots of page 1 (and the A4 print) of a report folder.

    Parameters
    ----------
    argv : list of str, optional
        The command-line arguments; default: ``sys.argv[1:]``.

    Examples
    --------
    >>> main(["no-such-folder"])
    Traceback (most recent call last):
    ...
    calib.errors.CalibError: 'no-such-folder' holds no report.html.
    """
    ap = argparse.ArgumentParser(prog="python -m calib.report.browser",
                                 description="Write page-1 screenshots (desktop and phone) "
                                             "of a report folder, and optionally its A4 PDF.")
    ap.add_argument("folder", help="a report folder (holding report.html)")
    ap.add_argument("--out", help="where to write the PNGs (default: the report folder)")
    ap.add_argument("--pdf", help="also print the report to this A4 PDF")
    a = ap.parse_args(argv)
    for p in screenshots(a.folder, a.out):
        print(p)
    if a.pdf:
        print(print_pdf(a.folder, a.pdf))


if __name__ == "__main__":
    main()
