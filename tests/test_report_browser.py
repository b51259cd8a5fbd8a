"""The report in a real browser: printed on A4, on a phone, on a desktop.

Drives the system Chromium through playwright (never downloads a browser); skips with
the reason when either is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calib.report import browser, fmt

pytestmark = pytest.mark.skipif(browser.unavailable() is not None,
                                reason=f"no browser: {browser.unavailable()}")


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as b:
        yield b


@pytest.fixture(scope="module")
def pdf_pages(demo_report, chromium, tmp_path_factory):
    """The text of each page of the report printed to A4."""
    pypdf = pytest.importorskip("pypdf", reason="pypdf reads the printed PDF")
    _, _, folder = demo_report
    page = browser.open_report(chromium, folder / "report.html", browser.DESKTOP)
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    page.pdf(path=str(path), format="A4", print_background=True)
    page.close()
    return [p.extract_text() for p in pypdf.PdfReader(str(path)).pages]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_page_one_of_the_a4_print_holds_the_decision(demo_report, pdf_pages):
    _, res, _ = demo_report
    page1 = _squash(pdf_pages[0])
    e = res.recommendations.package.effect
    h = e.hits_per_week[res.primary]
    verdict = res.recommendations.package.verdict
    assert verdict in page1
    assert fmt.signed(h[2]) in page1  # the effect per week
    assert fmt.interval(h[3], h[4]) in page1  # and its 95% interval
    assert "95% interval" in page1 and "Risks" in page1
    # page 1 is the decision only: the next section starts on page 2
    assert "What changes" not in page1 and "What changes" in _squash(pdf_pages[1])


def test_the_print_is_short_enough_to_read(pdf_pages):
    assert len(pdf_pages) <= 16


def test_no_horizontal_scroll_on_a_phone(demo_report, chromium):
    _, _, folder = demo_report
    page = browser.open_report(chromium, folder / "report.html", browser.PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    errors = list(page.calib_errors)
    # the verdict is on the first phone screen
    box = page.locator(".decision-box").bounding_box()
    page.close()
    assert width <= browser.PHONE["width"]
    assert errors == []
    assert box is not None and box["y"] + box["height"] <= browser.PHONE["height"]


def test_figure_text_is_legible_on_a_phone(demo_report, chromium):
    """Figure text, drawn at font.size points and shrunk to the phone's width, stays at
    least 8 CSS pixels tall."""
    import matplotlib.pyplot as plt

    from calib.report import figures

    _, _, folder = demo_report
    page = browser.open_report(chromium, folder / "report.html", browser.PHONE)
    scales = page.evaluate("Array.from(document.images).map(i => i.clientWidth / i.naturalWidth)")
    page.close()
    text_px = plt.rcParams["font.size"] * figures.DPI / 72
    assert scales and min(scales) * text_px >= 8, (min(scales), text_px)


def test_desktop_has_no_page_errors_and_readable_text(demo_report, chromium):
    _, _, folder = demo_report
    page = browser.open_report(chromium, folder / "report.html", browser.DESKTOP)
    text = page.inner_text("body")
    width = page.evaluate("document.documentElement.scrollWidth")
    errors = list(page.calib_errors)
    page.close()
    assert errors == []
    assert width <= browser.DESKTOP["width"]
    assert fmt.unreadable(text) == []


def test_screenshots_of_page_one(demo_report, chromium, tmp_path):
    _, _, folder = demo_report
    paths = browser.screenshots(folder, tmp_path, chromium)
    assert [p.name for p in paths] == ["page1-desktop.png", "page1-phone.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


EXAMPLE = Path(__file__).parent.parent / "reports" / "demo"


@pytest.mark.skipif(not (EXAMPLE / "report.html").exists(), reason="no example report")
def test_the_example_report_at_default_size_in_the_browser(chromium, tmp_path):
    """The committed example (calib demo at its default 50,000 leads): page 1 of the A4
    print holds the verdict, the per-week effect and its interval as summary.json has
    them; no horizontal scroll at 400 px; no page errors; no raw values."""
    import json

    pypdf = pytest.importorskip("pypdf", reason="pypdf reads the printed PDF")
    summary = json.loads((EXAMPLE / "summary.json").read_text(encoding="utf-8"))
    recs = summary["recommendations"]
    package, primary = recs["package"], recs["primary"]
    h = package["effect"]["per_week"][primary]
    page = browser.open_report(chromium, EXAMPLE / "report.html", browser.DESKTOP)
    page.pdf(path=str(tmp_path / "r.pdf"), format="A4", print_background=True)
    text = page.inner_text("body")
    errors = list(page.calib_errors)
    page.close()
    pages = [p.extract_text() for p in pypdf.PdfReader(str(tmp_path / "r.pdf")).pages]
    page1 = _squash(pages[0])
    assert package["verdict"] in page1
    assert fmt.signed(h["diff"]) in page1 and fmt.interval(h["ci_low"], h["ci_high"]) in page1
    assert len(pages) <= 16 and errors == [] and fmt.unreadable(text) == []
    phone = browser.open_report(chromium, EXAMPLE / "report.html", browser.PHONE)
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.close()
    assert width <= browser.PHONE["width"]
