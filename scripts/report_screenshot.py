"""Screenshot the top of a run's report in headless Chromium at 1280 × 900 (docs/report-demo.png).

    vcbench run                      # the default demo, into results/
    python scripts/report_screenshot.py results --out docs/report-demo.png

Writes the report of RESULTS_DIR first (``vcbench.report.write_report``), then opens its
report.html in Debian's chromium through chromedriver (selenium), as tests/test_report_browser.py
does, and saves what the window shows before any scrolling.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Headless, offline (no update, sync or background requests), 1280 × 900; the browser test uses them too.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)


def chromium(extra_flags: tuple[str, ...] = (), log_console: bool = False):
    """A selenium driver of Debian's chromium with ``FLAGS`` plus ``extra_flags``; with
    ``log_console`` the page's console messages are kept (``driver.get_log("browser")``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, *extra_flags):
        options.add_argument(flag)
    if log_console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def screenshot(results_dir: Path, out: Path) -> Path:
    """Write the report of ``results_dir`` and save the top of its page as PNG to ``out``."""
    from vcbench.report import write_report

    page = write_report(results_dir).html
    driver = chromium(("--hide-scrollbars",))
    try:
        driver.get(page.resolve().as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(out)):
            raise SystemExit(f"Chromium could not save the screenshot to {out}.")
    finally:
        driver.quit()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path, help="output folder of `vcbench run`")
    parser.add_argument("--out", type=Path, default=Path("docs/report-demo.png"))
    args = parser.parse_args()
    print(f"Wrote {screenshot(args.results_dir, args.out)}")


if __name__ == "__main__":
    main()
