"""Journeys a person makes in the web app, in a real (headless) Chromium against the running
stack: a guest's card order turning CONFIRMED live (on a desktop and on a 375-pixel phone), a pix
order paid at the provider, a guest who registers, keeps its order and identifies by CPF, a
customer cancelling, the staff board taking an order to DELIVERED while the customer's page
follows, the admin archiving a product and reading an order's trace; axe-core on every page they
pass. "Live" is checked by a mark left in the page's JavaScript: a reload would erase it."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import DESKTOP, PHONE, use_viewport
from tests.browser.support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    api_login,
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    assert_not_reloaded,
    button,
    by_testid,
    click,
    confirmed_order,
    fill,
    log_in,
    mark_page,
    pay_pix_at_provider,
    product_in_stock,
    readme_screenshot,
    registered_customer,
    staff_member,
    unique,
    valid_cpf,
    wait_heading,
    wait_text,
    wait_visible,
)
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def search_catalog(driver: WebDriver, text: str) -> None:
    """Search the catalog from its page for ``text``."""
    fill(driver, "Search products", text)
    button(driver, "Search")


def test_register_then_log_in(browser: WebDriver, web_app: str) -> None:
    email = f"{unique('signup')}@example.com"
    browser.get(f"{web_app}/register")
    wait_heading(browser, "Register")
    assert_accessible(browser, "register")
    fill(browser, "Full name", "Ana Souza")
    fill(browser, "Email", email)
    fill(browser, "Password", PASSWORD)
    button(browser, "Register")
    # Registered and logged in: the account page (the profile follows from an event).
    wait_heading(browser, "Account")
    assert_accessible(browser, "account")
    button(browser, "Log out")
    wait_visible(browser, 'a[href="/login"]')

    browser.get(f"{web_app}/login")
    wait_heading(browser, "Log in")
    assert_accessible(browser, "login")
    browser.find_element(By.CSS_SELECTOR, by_testid("login-email")).send_keys(email)
    browser.find_element(By.CSS_SELECTOR, by_testid("login-password")).send_keys("wrong-password-1")
    click(browser, by_testid("login-submit"))
    # The API's refusal, as it gave it.
    wait_text(browser, "[role=alert]", "invalid")
    password = browser.find_element(By.CSS_SELECTOR, by_testid("login-password"))
    password.clear()
    password.send_keys(PASSWORD)
    click(browser, by_testid("login-submit"))
    wait_heading(browser, "Catalog")
    wait_visible(browser, 'a[href="/orders"]')
    assert_no_csp_violations(browser)


def test_a_weak_password_is_refused_beside_its_field(browser: WebDriver, web_app: str) -> None:
    browser.get(f"{web_app}/register")
    fill(browser, "Full name", "Ana Souza")
    fill(browser, "Email", f"{unique('weak')}@example.com")
    fill(browser, "Password", "short")
    button(browser, "Register")
    error = wait_visible(browser, ".field-invalid .field-error")
    assert "password" in error.text.lower() or "characters" in error.text
    field = browser.find_element(By.CSS_SELECTOR, ".field-invalid input")
    assert field.get_attribute("type") == "password"
    assert field.get_attribute("aria-invalid") == "true"
    assert_accessible(browser, "register with errors")


def add_to_cart_and_check_out(driver: WebDriver, product_name: str) -> None:
    """Find a product from the catalog's search, put it in the cart and open the checkout."""
    search_catalog(driver, product_name)
    wait_text(driver, by_testid("product-card"), product_name)
    cards = driver.find_elements(By.CSS_SELECTOR, by_testid("product-card"))
    assert [card.find_element(By.CSS_SELECTOR, "h2").text for card in cards] == [product_name]
    cards[0].find_element(By.CSS_SELECTOR, by_testid("add-to-cart")).click()
    wait_text(driver, by_testid("cart-count"), "1")
    click(driver, 'a[href="/cart"]')
    wait_heading(driver, "Cart")
    click(driver, by_testid("checkout"))
    wait_heading(driver, "Checkout")


def fill_address(driver: WebDriver) -> None:
    """The delivery address of the checkout form."""
    for label, value in (
        ("Street", "Rua Augusta"),
        ("Number", "1500"),
        ("City", "São Paulo"),
        ("State", "SP"),
        ("Postal code", "01304-001"),
        ("Country", "Brazil"),
    ):
        fill(driver, label, value)


def place_order(driver: WebDriver, method: str) -> str:
    """Choose the payment method, place the order, and return its page's URL (marked)."""
    fill_address(driver)
    click(driver, by_testid(f"payment-method-{method}"))
    click(driver, by_testid("place-order"))
    wait_visible(driver, by_testid("order-status"))
    mark_page(driver)
    return driver.current_url


def wait_status(driver: WebDriver, status: str, timeout: float = 30) -> None:
    """Until the order page shows ``status`` (from the live stream: the page is not reloaded)."""
    wait_text(driver, by_testid("order-status"), status, timeout)
    assert_not_reloaded(driver)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone-375x812"])
def test_a_guest_orders_by_card_and_sees_it_confirmed_live(
    browser: WebDriver, web_app: str, viewport: tuple[int, int]
) -> None:
    use_viewport(browser, viewport)
    name = unique("Browser tea")
    product_in_stock(name, price="12.50", stock=20)
    browser.get(web_app)
    wait_visible(browser, by_testid("product-card"))
    assert_accessible(browser, "catalog")
    assert_fits_width(browser)
    if viewport == DESKTOP:
        readme_screenshot(browser, "catalog")

    add_to_cart_and_check_out(browser, name)
    # No session yet: the checkout offers to log in, register or go on as a guest.
    assert_accessible(browser, "checkout without a session")
    click(browser, by_testid("continue-as-guest"))
    wait_visible(browser, by_testid("place-order"))
    assert_accessible(browser, "checkout")
    assert_fits_width(browser)
    place_order(browser, "card")

    wait_status(browser, "CONFIRMED")
    wait_text(browser, "main", "12.50")
    assert browser.find_element(By.CSS_SELECTOR, by_testid("cart-count")).text == "0"
    assert_accessible(browser, "order")
    assert_fits_width(browser)
    if viewport == DESKTOP:
        readme_screenshot(browser, "live-order")

    click(browser, 'a[href="/orders"]')
    wait_heading(browser, "My orders")
    rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, by_testid("order-row")))
    assert len(rows) == 1
    assert "CONFIRMED" in rows[0].text
    assert_accessible(browser, "my orders")
    assert_fits_width(browser)
    click(browser, 'a[href="/notifications"]')
    wait_heading(browser, "Notifications")
    assert_accessible(browser, "notifications")
    assert_fits_width(browser)
    assert_no_csp_violations(browser)


def test_a_pix_order_shows_its_qr_code_is_paid_at_the_provider_and_turns_confirmed_live(
    browser: WebDriver, web_app: str
) -> None:
    name = unique("Pix coffee")
    product_in_stock(name, price="18.90", currency="BRL")
    browser.get(web_app)
    add_to_cart_and_check_out(browser, name)
    click(browser, by_testid("continue-as-guest"))
    wait_visible(browser, by_testid("place-order"))
    order_id = place_order(browser, "pix").rsplit("/", 1)[-1]

    qr = wait_visible(browser, by_testid("pix-qr"), timeout=60)
    assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].naturalWidth", qr) > 0, "the QR is no image"
    copia_e_cola = browser.find_element(By.ID, "pix-copia-e-cola").get_attribute("value") or ""
    assert copia_e_cola.startswith("000201"), copia_e_cola
    assert browser.find_element(By.CSS_SELECTOR, by_testid("order-status")).text != "CONFIRMED"
    assert_accessible(browser, "pix order")
    assert_no_csp_violations(browser)

    pay_pix_at_provider(order_id, copia_e_cola)
    wait_status(browser, "CONFIRMED")
    wait_for(
        lambda: not browser.find_elements(By.CSS_SELECTOR, by_testid("pix-qr")),
        timeout=15,
        what="the QR code to go once paid",
    )


def test_a_guest_registers_keeps_its_order_and_identifies_by_cpf(
    browser: WebDriver, web_app: str
) -> None:
    name = unique("Guest mate")
    product_in_stock(name)
    browser.get(web_app)
    add_to_cart_and_check_out(browser, name)
    click(browser, by_testid("continue-as-guest"))
    wait_visible(browser, by_testid("place-order"))
    order_url = place_order(browser, "card")
    wait_status(browser, "CONFIRMED")

    # The guest registers: its token goes along, so the order stays with the new account.
    browser.get(f"{web_app}/register")
    wait_text(browser, "main", "your orders stay with the account")
    fill(browser, "Full name", "Ana Souza")
    fill(browser, "Email", f"{unique('guest')}@example.com")
    fill(browser, "Password", PASSWORD)
    button(browser, "Register")
    wait_heading(browser, "Account")
    click(browser, 'a[href="/orders"]')
    wait_heading(browser, "My orders")
    rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, by_testid("order-row")))
    assert [row.find_element(By.CSS_SELECTOR, "a").get_attribute("href") for row in rows] == [
        order_url
    ]

    # Identify by CPF: a wrong check digit is refused beside the field, a valid one is kept.
    click(browser, 'a[href="/account"]')
    wait_heading(browser, "Account")
    wait_for(
        lambda: browser.find_elements(By.XPATH, '//label[normalize-space(.)="CPF"]'),
        timeout=20,
        what="the profile (made from the registration event)",
    )
    cpf = valid_cpf()
    wrong = cpf[:-1] + str((int(cpf[-1]) + 1) % 10)
    fill(browser, "CPF", wrong)
    button(browser, "Save")
    error = wait_visible(browser, ".field-invalid .field-error")
    assert "cpf" in error.text.lower() or "digit" in error.text.lower(), error.text
    assert_accessible(browser, "account with a refused CPF")
    fill(browser, "CPF", cpf)
    button(browser, "Save")
    wait_text(browser, "main", "Saved.")
    browser.refresh()
    wait_heading(browser, "Account")
    digits = "".join(c for c in cpf if c.isdigit())
    wait_for(
        lambda: (
            "".join(
                c
                for c in (
                    browser.find_element(By.ID, cpf_field_id(browser)).get_attribute("value") or ""
                )
                if c.isdigit()
            )
            == digits
        ),
        timeout=20,
        what="the saved CPF after a reload",
    )
    assert_no_csp_violations(browser)


def cpf_field_id(driver: WebDriver) -> str:
    """The id of the account page's CPF input (found by its label)."""
    label = driver.find_element(By.XPATH, '//label[normalize-space(.)="CPF"]')
    return label.get_attribute("for") or ""


def test_a_customer_cancels_an_order_awaiting_payment(browser: WebDriver, web_app: str) -> None:
    """A card order is CONFIRMED within a second, too fast to cancel by hand; a pix order waits
    for its payment, which is when a customer changes their mind."""
    name = unique("Cancel tea")
    product_in_stock(name, price="9.90", currency="BRL")
    customer = registered_customer()
    log_in(browser, customer.email, customer.password)
    add_to_cart_and_check_out(browser, name)
    place_order(browser, "pix")
    wait_visible(browser, by_testid("pix-qr"), timeout=60)
    button(browser, "Cancel order")
    wait_status(browser, "CANCELLED")
    assert not browser.find_elements(By.XPATH, '//button[normalize-space(.)="Cancel order"]')
    assert_accessible(browser, "cancelled order")
    click(browser, 'a[href="/notifications"]')
    wait_heading(browser, "Notifications")
    wait_text(browser, "main", "cancel")


def test_staff_take_an_order_to_delivered_and_the_customers_page_follows(
    browser: WebDriver, web_app: str
) -> None:
    product = product_in_stock(unique("Staff soup"))
    customer = registered_customer()
    staff = staff_member()

    # The staff board is open before the order exists: the order arrives on it live.
    log_in(browser, staff.email, staff.password)
    click(browser, 'a[href="/staff"]')
    wait_heading(browser, "Staff board")
    wait_text(browser, "main", "Live: orders move here")
    mark_page(browser)
    staff_tab = browser.current_window_handle
    order_id = confirmed_order(api_login(customer.email, customer.password), product["product_id"])
    card_xpath = f'//li[.//a[@href="/orders/{order_id}"]]'
    wait_for(lambda: board_column(browser, order_id), what="the new order on the board")
    assert_not_reloaded(browser)
    assert_accessible(browser, "staff board")

    # The customer follows the order in another tab (its own session).
    browser.switch_to.new_window("tab")
    log_in(browser, customer.email, customer.password)
    browser.get(f"{web_app}/orders/{order_id}")
    wait_text(browser, by_testid("fulfilment-status"), "NOT_STARTED")
    mark_page(browser)
    customer_tab = browser.current_window_handle

    browser.switch_to.window(staff_tab)
    for step, after in (
        ("Not started", "Preparing"),
        ("Preparing", "Shipped"),
        ("Shipped", "Delivered"),
    ):
        assert board_column(browser, order_id).startswith(step)
        wait_for(lambda: click_next_step(browser, order_id), what=f"a click on {step}'s button")
        wait_for(
            lambda after=after: board_column(browser, order_id).startswith(after),
            what=f"the order to move to {after}",
        )
    assert not browser.find_elements(By.XPATH, f"{card_xpath}//*[@data-testid='fulfilment-next']")

    browser.switch_to.window(customer_tab)
    wait_text(browser, by_testid("fulfilment-status"), "DELIVERED")
    assert_not_reloaded(browser)
    wait_text(browser, "main", "The order is complete.")
    wait_text(browser, ".timeline", "delivered")
    assert_no_csp_violations(browser)


def board_column(driver: WebDriver, order_id: str) -> str:
    """The heading of the staff board's column showing the order ("" if it is on none), read in
    one go in the page: the board re-renders as every order's changes stream in."""
    heading: str = driver.execute_script(
        """
        const link = document.querySelector(`.board a[href="/orders/${arguments[0]}"]`);
        return link?.closest("section.board-column")?.querySelector("h2")?.textContent ?? "";
        """,
        order_id,
    )
    return heading


def click_next_step(driver: WebDriver, order_id: str) -> bool:
    """Click the order's next-step button on the staff board; False if it was re-rendered first."""
    try:
        driver.find_element(
            By.XPATH,
            f'//li[.//a[@href="/orders/{order_id}"]]//*[@data-testid="fulfilment-next"]',
        ).click()
    except StaleElementReferenceException:
        return False
    return True


def test_the_admin_archives_a_product_and_it_leaves_the_catalog(
    browser: WebDriver, web_app: str
) -> None:
    name = unique("Admin lamp")
    log_in(browser, ADMIN_EMAIL, ADMIN_PASSWORD)
    click(browser, 'a[href="/admin"]')
    wait_heading(browser, "Admin")
    assert_accessible(browser, "admin")
    click(browser, 'a[href="/admin/products"]')
    wait_heading(browser, "Products")
    fill(browser, "SKU", unique("LAMP").upper())
    fill(browser, "Name", name)
    fill(browser, "Price", "49.90")
    fill(browser, "Stock", "7")
    button(browser, "Create product")
    wait_text(browser, "[role=status]", f"Created {name}.")
    assert_accessible(browser, "admin products")

    click(browser, 'header a[href="/"]')
    wait_heading(browser, "Catalog")
    search_catalog(browser, name)
    wait_text(browser, by_testid("product-card"), name)
    assert "7 in stock" in browser.find_element(By.CSS_SELECTOR, by_testid("product-card")).text

    browser.get(f"{web_app}/admin/products")
    wait_heading(browser, "Products")
    fill(browser, "Search products", name)
    button(browser, "Search")
    button(browser, f"Archive {name}")
    button(browser, f"Confirm archive of {name}")
    wait_for(
        lambda: (
            not browser.find_elements(By.XPATH, f'//button[normalize-space(.)="Archive {name}"]')
        ),
        what="the archived product to leave the admin's list",
    )

    click(browser, 'header a[href="/"]')
    wait_heading(browser, "Catalog")
    search_catalog(browser, name)
    wait_text(browser, "main", "No products match.")
    assert not browser.find_elements(By.CSS_SELECTOR, by_testid("product-card"))
    assert_no_csp_violations(browser)


def test_the_admin_opens_an_orders_trace_and_sees_its_messages(
    browser: WebDriver, web_app: str
) -> None:
    product = product_in_stock(unique("Trace tea"))
    customer = registered_customer()
    order_id = confirmed_order(api_login(customer.email, customer.password), product["product_id"])
    log_in(browser, ADMIN_EMAIL, ADMIN_PASSWORD)
    browser.get(f"{web_app}/admin/trace")
    wait_heading(browser, "Trace an order")
    fill(browser, "Order id", order_id)
    button(browser, "Trace")
    rows = wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, by_testid("trace-message")),
        what="the order's Kafka messages",
    )
    text = "\n".join(row.text for row in rows)
    for event_type in ("order.created", "stock.reserved", "payment.authorized", "order.confirmed"):
        assert event_type in text, f"{event_type} missing from the trace:\n{text}"
    assert order_id in browser.current_url
    assert_accessible(browser, "trace")
    # The message table scrolls inside its own region on a phone; the page does not.
    use_viewport(browser, PHONE)
    assert_fits_width(browser)
    assert_no_csp_violations(browser)


def test_every_other_page_passes_axe(browser: WebDriver, web_app: str) -> None:
    """The pages no journey above passes, each once settled on its data, its empty state or the
    API's error; on a phone, where the wide ones (tables, the board) must still fit."""
    use_viewport(browser, PHONE)
    log_in(browser, ADMIN_EMAIL, ADMIN_PASSWORD)
    for path in (
        "/admin/categories",
        "/admin/users",
        "/admin/dlq",
        "/admin/products",
        "/staff",
        "/account",
        "/no-such-page",
    ):
        browser.get(f"{web_app}{path}")
        wait_visible(browser, "main h1")
        wait_for(
            lambda: not browser.find_elements(By.CSS_SELECTOR, ".loading"),
            timeout=20,
            what=f"{path} to finish loading",
        )
        assert_accessible(browser, path)
        assert_fits_width(browser)
    assert_no_csp_violations(browser)


def test_the_catalog_works_from_the_keyboard(browser: WebDriver, web_app: str) -> None:
    product_in_stock(unique("Keyboard tea"))
    browser.get(web_app)
    wait_visible(browser, by_testid("product-card"))
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"
    # Past the skip link the next stops are the page's own: search, then the products.
    for _ in range(40):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.get_attribute("data-testid") == "add-to-cart":
            break
    else:
        pytest.fail("Tab never reached an Add to cart button")
    assert browser.switch_to.active_element.get_attribute("data-testid") == "add-to-cart"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_text(browser, by_testid("cart-count"), "1")


def test_the_served_html_has_no_inline_script_or_style(web_app: str) -> None:
    """What the Content-Security-Policy forbids is not in the page in the first place."""
    response = httpx.get(f"{web_app}/orders", timeout=10)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    found = InlineFinder()
    found.feed(response.text)
    assert found.scripts, "the page loads no script"
    assert found.inline == [], found.inline


class InlineFinder(HTMLParser):
    """Collects scripts and any inline script, <style> or style attribute of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note each script's source, and whatever is inline."""
        attributes = dict(attrs)
        if "style" in attributes:
            self.inline.append(f"style attribute on <{tag}>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            if attributes.get("src"):
                self.scripts.append(attributes["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        """Leave a script."""
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        """Text inside <script> is an inline script."""
        if self._in_script and data.strip():
            self.inline.append(f"inline script: {data.strip()[:40]}")


def test_api_docs_render_from_the_gateway_alone(browser: WebDriver, web_app: str) -> None:
    """/docs draws the published API with Swagger UI served by the gateway itself: the browser
    here has no internet, so a CDN asset would leave the page empty."""
    browser.get(f"{web_app}/docs")
    wait_visible(browser, ".opblock-summary-path[data-path='/api/orders']")
    wait_visible(browser, ".opblock-summary-path[data-path='/api/products/{product_id}']")
    assert_no_csp_violations(browser)
