"""One way to start the browser the page tests use: Debian's chromium through
chromium-driver, headless, at a stated window size (the review, family, worklist and report
pages, and MLflow's UI, are all looked at through it).

Missing chromium is a failure, not a skip: ``make test`` installs it (``browser-deps``).
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

#: headless Chromium will not make a window narrower than this: a phone is emulated
NARROWEST_WINDOW = 500


def chromium_driver(width: int = 1366, height: int = 900, *, exact_viewport: bool = False) -> Any:
    """A headless Chromium WebDriver with a ``width`` x ``height`` window.

    Below NARROWEST_WINDOW px (a 360 px phone) the viewport is set through the DevTools
    protocol as a mobile device; ``exact_viewport`` sets it that way at any width (the
    worklist test measures the same viewport at both widths). The caller quits it."""
    from selenium import webdriver  # a dev dependency: missing is a failure, not a skip
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail("chromium and chromium-driver are missing: run `make test` (installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    phone = width < NARROWEST_WINDOW
    if phone or exact_viewport:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone},
        )
    return driver


def replaced(old: Any) -> Any:
    """A WebDriverWait condition: ``old`` (an element of the page before a navigation) is gone.

    Selenium's ``staleness_of`` counts only StaleElementReferenceException as gone, but
    chromedriver, asked about a node while the new document replaces the old, sometimes
    answers with a generic error ("Node with given id does not belong to the document"):
    that also means the old page is gone, and it failed the page tests under load."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def _gone(_driver: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    return _gone
