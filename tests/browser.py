"""What the browser tests share: headless Chromium, screenshots, page loads and downloads.

The ``browser`` fixture itself is in ``conftest.py``; a browser test module sets
``pytestmark = [needs_chromium, ...]``.
"""

import base64
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.wait import WebDriverWait

from tests.runs import postgres_only

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "bench" / "screenshots"
# Headless, and quiet: nothing outside the machine is reachable, so Chromium must not try.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1280,900",
]

# A browser flow takes seconds: it runs in the PostgreSQL runs only (tests/runs.py).
needs_chromium = (
    postgres_only
    if CHROMIUM.exists() and CHROMEDRIVER.exists()
    else pytest.mark.skip(reason="needs Chromium at /usr/bin/chromium and /usr/bin/chromedriver: run `make browser`")
)


def screenshot(driver, name):
    """Save a PNG of the whole page, below the fold too, to bench/screenshots/``name``."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    if size["height"] <= metrics["cssLayoutViewport"]["clientHeight"]:
        # Chromium shifts a right-to-left page that fits the window when asked for "beyond the viewport".
        png = driver.get_screenshot_as_png()
    else:
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        capture = {"captureBeyondViewport": True, "clip": clip}
        png = base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", capture)["data"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / name).write_bytes(png)


def click_and_wait(driver, element):
    """Click a link or submit button and wait until the next page has loaded."""
    # A mark on the old page's window: the next page's window comes without it.
    driver.execute_script("window.beforeClick = true")
    element.click()
    # While the page changes, the browser may answer with a transient error: ask again.
    wait = WebDriverWait(driver, 10, ignored_exceptions=[WebDriverException])
    wait.until(lambda driver: driver.execute_script("return !window.beforeClick && document.readyState == 'complete'"))


def allow_downloads(driver, folder):
    """Let headless Chromium save downloads, without asking, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def downloaded(folder, suffix, timeout=10):
    """Wait for the browser to finish a download ending in ``suffix`` into ``folder`` and return its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Chromium writes to a .crdownload file and renames it when the download is complete; some
        # versions show the final name, still empty, before the bytes arrive.
        files = list(folder.iterdir())
        done = sorted(path for path in files if path.suffix == suffix and path.stat().st_size)
        if done and not any(path.suffix == ".crdownload" for path in files):
            return done[0].read_text(encoding="utf-8")
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} download in {timeout} s: {sorted(folder.iterdir())}")
