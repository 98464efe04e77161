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
from tests.support import REPO, wait_for

# Where the README's screenshots are written when BROWSER_TESTS_README_SCREENSHOTS=1.
README_SCREENSHOTS = REPO / "docs" / "screenshots"
PAYMENT_PROVIDER_URL = os.environ.get("PAYMENT_PROVIDER_URL", "http://127.0.0.1:8201")
PROVIDER_API_KEY = os.environ.get("PROVIDER_API_KEY", "local-provider-api-key")
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
    user_id: str = ""


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
    account.user_id = response.json()["user_id"]
    return account


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def staff_member() -> Account:
    """A new account holding the staff role (granted by the admin through the API)."""
    account = registered_customer()
    admin = api_login(ADMIN_EMAIL, ADMIN_PASSWORD)
    granted = httpx.put(
        f"{GATEWAY}/api/auth/users/{account.user_id}/roles",
        json={"roles": ["staff"]},
        headers=bearer(admin),
        timeout=15,
    )
    assert granted.status_code == 200, granted.text
    return account


def confirmed_order(token: str, product_id: str) -> str:
    """An order placed by card through the API, once the saga has CONFIRMED it."""
    placed = httpx.post(
        f"{GATEWAY}/api/orders",
        json={"items": [{"product_id": product_id, "quantity": 1}]},
        headers={**bearer(token), "Idempotency-Key": unique("key")},
        timeout=15,
    )
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["order_id"]

    def status() -> bool:
        order = httpx.get(f"{GATEWAY}/api/orders/{order_id}", headers=bearer(token), timeout=15)
        return order.json()["status"] == "CONFIRMED"

    wait_for(status, timeout=30, interval=0.2, what="the order to be CONFIRMED")
    return order_id


def valid_cpf() -> str:
    """A CPF no other test holds, with correct check digits, punctuated as people type it."""
    digits = [int(c) for c in f"{uuid.uuid4().int % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * (length + 1 - i) for i, d in enumerate(digits[:length]))
        digits.append((total * 10 % 11) % 10)
    text = "".join(map(str, digits))
    return f"{text[:3]}.{text[3:6]}.{text[6:9]}-{text[9:]}"


def pay_pix_at_provider(order_id: str, copia_e_cola: str) -> None:
    """What the customer's bank app does: pay the charge of this pix code at the provider."""
    charges = httpx.get(
        f"{PAYMENT_PROVIDER_URL}/charges",
        params={"reference": order_id},
        headers=bearer(PROVIDER_API_KEY),
        timeout=15,
    )
    charges.raise_for_status()
    matching = [c for c in charges.json() if c["qr_code"] == copia_e_cola]
    assert matching, f"no charge at the provider for order {order_id} with the page's pix code"
    paid = httpx.post(
        f"{PAYMENT_PROVIDER_URL}/charges/{matching[0]['charge_id']}/pay", json={}, timeout=15
    )
    assert paid.status_code == 200, paid.text


def readme_screenshot(driver: WebDriver, name: str) -> None:
    """Save the page as docs/screenshots/<name>.png when asked to (the README shows them)."""
    if os.environ.get("BROWSER_TESTS_README_SCREENSHOTS") == "1":
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(README_SCREENSHOTS / f"{name}.png"))


def mark_page(driver: WebDriver) -> None:
    """Leave a mark in the page's JavaScript: it survives anything but a reload."""
    driver.execute_script("window.__notReloaded = true")


def assert_not_reloaded(driver: WebDriver) -> None:
    """The page still holds mark_page's mark: what changed on it came live, not from a reload."""
    assert driver.execute_script("return window.__notReloaded === true"), "the page was reloaded"


def product_in_stock(
    name: str, *, price: str = "12.50", stock: int = 20, currency: str = "EUR"
) -> dict[str, Any]:
    """A new product created by the admin through the API."""
    token = api_login(ADMIN_EMAIL, ADMIN_PASSWORD)
    response = httpx.post(
        f"{GATEWAY}/api/products",
        json={
            "sku": unique("BRW").upper(),
            "name": name,
            "description": "made by a browser test",
            "price": price,
            "currency": currency,
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
