"""What the browser journeys share: waiting on the app's data-testid hooks, accounts made through
the API, and axe-core's accessibility check."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import GATEWAY, axe_source

ADMIN_EMAIL = os.environ.get("ADMIN_EMAIL", "admin@example.com")
ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD", "Admin-password-1")
PASSWORD = "correct-horse-42"
WAIT_SECONDS = 20.0
# axe-core impact levels that fail a test; moderate and minor ones are reported by axe but
# left to review.
FAILING_IMPACTS = ("serious", "critical")


def by_testid(value: str) -> str:
    """CSS selector of a data-testid hook."""
    return f'[data-testid="{value}"]'


def wait_visible(driver: WebDriver, css: str, timeout: float = WAIT_SECONDS) -> WebElement:
    """The first element matching ``css`` once it is visible."""
    element: WebElement = WebDriverWait(driver, timeout).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css))
    )
    return element


def wait_text(driver: WebDriver, css: str, text: str, timeout: float = WAIT_SECONDS) -> None:
    """Until an element matching ``css`` shows ``text``."""
    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )


def wait_heading(driver: WebDriver, text: str, timeout: float = WAIT_SECONDS) -> None:
    """Until the page's h1 reads ``text`` (pages are client-side: the URL changes first)."""
    wait_text(driver, "main h1", text, timeout)


def click(driver: WebDriver, css: str) -> None:
    """Click the element matching ``css`` once it can be clicked."""
    element = WebDriverWait(driver, WAIT_SECONDS).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, css))
    )
    element.click()


def fill(driver: WebDriver, label: str, value: str) -> None:
    """Type into the form control whose <label> reads ``label`` (as a person finds it)."""
    xpath = f'//label[normalize-space(.)="{label}"]'
    label_element = WebDriverWait(driver, WAIT_SECONDS).until(
        ec.presence_of_element_located((By.XPATH, xpath))
    )
    control = driver.find_element(By.ID, label_element.get_attribute("for") or "")
    control.clear()
    control.send_keys(value)


def button(driver: WebDriver, text: str) -> None:
    """Click the button that reads ``text``."""
    xpath = f'//button[normalize-space(.)="{text}"]'
    WebDriverWait(driver, WAIT_SECONDS).until(ec.element_to_be_clickable((By.XPATH, xpath))).click()


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- accounts and data through the API -------------------------------------------------------


@dataclass
class Account:
    """Credentials of a registered account."""

    email: str
    password: str


def api_login(email: str, password: str) -> str:
    """An access token for these credentials."""
    response = httpx.post(
        f"{GATEWAY}/api/auth/login", json={"email": email, "password": password}, timeout=15
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def registered_customer() -> Account:
    """A new customer account, registered through the API."""
    account = Account(email=f"{unique('browser')}@example.com", password=PASSWORD)
    response = httpx.post(
        f"{GATEWAY}/api/auth/register",
        json={"email": account.email, "password": account.password, "full_name": "Browser Test"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return account


def product_in_stock(name: str, *, price: str = "12.50", stock: int = 20) -> dict[str, Any]:
    """A new product created by the admin through the API."""
    token = api_login(ADMIN_EMAIL, ADMIN_PASSWORD)
    response = httpx.post(
        f"{GATEWAY}/api/products",
        json={
            "sku": unique("BRW").upper(),
            "name": name,
            "description": "made by a browser test",
            "price": price,
            "currency": "EUR",
            "stock": stock,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


# -- the UI ----------------------------------------------------------------------------------


def log_in(driver: WebDriver, email: str, password: str) -> None:
    """Log in through the login page and wait for the catalog."""
    driver.get(f"{GATEWAY}/login")
    wait_visible(driver, by_testid("login-email")).send_keys(email)
    driver.find_element(By.CSS_SELECTOR, by_testid("login-password")).send_keys(password)
    click(driver, by_testid("login-submit"))
    wait_heading(driver, "Catalog")


def assert_accessible(driver: WebDriver, page: str) -> None:
    """Run axe-core on the current page; fail on any serious or critical violation."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source())
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ["violations"] })
          .then((results) => done({ violations: results.violations }))
          .catch((error) => done({ error: String(error) }));
        """
    )
    assert "error" not in result, f"axe-core failed on {page}: {result['error']}"
    failing = [v for v in result["violations"] if v.get("impact") in FAILING_IMPACTS]
    report = "\n".join(
        f"- {v['impact']}: {v['id']} ({v['help']}): "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in failing
    )
    assert not failing, f"axe-core on {page}:\n{report}"


def assert_no_csp_violations(driver: Chrome) -> None:
    """The browser's console shows no Content-Security-Policy refusal."""
    # selenium leaves get_log untyped; it returns the console's entries as dicts.
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    refused = [
        entry["message"]
        for entry in entries
        if "Content Security Policy" in entry.get("message", "")
    ]
    assert refused == [], refused


def assert_fits_width(driver: WebDriver) -> None:
    """Nothing on the page is wider than the viewport (no sideways scrolling on a phone)."""
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the viewport"
