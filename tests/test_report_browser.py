"""The demo report in a real browser: headless Chromium at 1280 px (Debian's chromium and
chromium-driver; skipped, saying why, where they are absent)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from vcbench.report import write_report
from vcbench.runner import parse_spec, run_benchmark


def _screenshot_script():
    """scripts/report_screenshot.py (its Chromium flags and driver), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "report_screenshot.py"
    spec = importlib.util.spec_from_file_location("report_screenshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _screenshot_script()
CHROMIUM, DRIVER = SCRIPT.CHROMIUM, SCRIPT.DRIVER
WIDTH = 1280


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for name, path in (("chromium", CHROMIUM), ("chromium-driver", DRIVER)):
        if not Path(path).is_file():
            return f"{name} is not installed ({path} missing; apt-get install chromium chromium-driver)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser_demo")
    spec = f"""
output: {out}
metrics: [pcc, pdcorr, pds, de_overlap, rmse]
datasets: [{{name: demo, source: demo}}]
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}
  - {{name: context, variant: random, options: {{contexts: [A172, T98G, U87MG]}}, seeds: [0]}}
models: [{{name: no_change}}, {{name: perturbation_mean}}, {{name: additive}}, {{name: linear}},
         {{name: random_perturbation}}]
"""
    run_benchmark(parse_spec(spec))
    return write_report(out).html


@pytest.fixture(scope="module")
def browser():
    driver = SCRIPT.chromium(log_console=True)
    yield driver
    driver.quit()


def test_the_report_renders_cleanly_at_1280_px(page: Path, browser) -> None:
    browser.get(page.resolve().as_uri())
    assert browser.execute_script("return window.innerWidth") == WIDTH
    # the headline leaderboard is on screen before any scrolling
    top, bottom, right = browser.execute_script(
        "const r = document.querySelector('#headline table').getBoundingClientRect();"
        "return [r.top, r.bottom, r.right];"
    )
    height = browser.execute_script("return window.innerHeight")
    assert top >= 0 and bottom <= height and right <= WIDTH, (top, bottom, right, height)
    overflow = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert browser.execute_script(overflow) <= 0
    # open every disclosure: still no horizontal overflow, and every image has loaded
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert browser.execute_script(overflow) <= 0
    images = browser.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.alt]);"
    )
    assert len(images) >= 4
    broken = [alt for complete, width, alt in images if not complete or width == 0]
    assert not broken, broken
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
