"""Browser fixtures: Debian's Chromium, headless, driven through Debian's chromedriver by selenium,
against the running stack (the gateway on :8080 serving the built web app). A failing test leaves
a screenshot of its last page in var/browser/."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from devstack import layout
from tests.support import REPO

GATEWAY = os.environ.get("GATEWAY_URL", f"http://localhost:{layout.GATEWAY_PORT}")
CHROMIUM = os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BROWSER_TESTS_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = REPO / "var" / "browser"
DESKTOP = (1280, 900)
PHONE = (375, 812)

# What works here as root without a display, GPU or network beyond the loopback.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def web_app() -> str:
    """The gateway's address, once it answers and serves the built app (fails clearly if not)."""
    try:
        response = httpx.get(f"{GATEWAY}/", timeout=10.0)
    except httpx.HTTPError as exc:
        pytest.fail(f"gateway not reachable at {GATEWAY} ({exc}): run the suite with `make test`")
    if response.status_code != 200 or '<div id="root">' not in response.text:
        pytest.fail(
            f"{GATEWAY}/ does not serve the web app ({response.status_code}): `make up` builds it"
        )
    return GATEWAY


@pytest.fixture
def browser(request: pytest.FixtureRequest, web_app: str) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own profile: no tokens or cart from another test)."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(binary):
            pytest.fail(f"{binary} missing: `make up` installs chromium and chromium-driver")
    profile = tempfile.mkdtemp(prefix="browser-test-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        failed = any(
            getattr(getattr(request.node, f"report_{phase}", None), "failed", False)
            for phase in ("setup", "call")
        )
        if failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
            driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def use_viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """Lay pages out as a device of this CSS size (a phone: touch, device scale factor 2)."""
    width, height = size
    phone = width < 600
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2 if phone else 1, "mobile": phone},
    )


def axe_source() -> str:
    """axe-core's browser build from the web app's dev dependencies (npm ci installs it)."""
    path = Path(REPO, "web", "node_modules", "axe-core", "axe.min.js")
    if not path.is_file():
        pytest.fail(f"{path} missing: `npm --prefix web ci` installs axe-core")
    return path.read_text()
