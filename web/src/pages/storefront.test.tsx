import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { fakeFetch, json, pair, PRODUCT } from "../test/fakeApi";
import { renderApp } from "../test/render";

const catalog = {
  "GET /api/products": () => json({ items: [PRODUCT], page: 1, size: 12, total: 1 }),
  "GET /api/products/:id": () => json(PRODUCT),
  "GET /api/categories": () => json({ detail: "no route for this path" }, 404),
};

describe("catalog and cart", () => {
  it("lists products and counts what goes into the cart", async () => {
    const user = userEvent.setup();
    const { fetch } = fakeFetch(catalog);
    renderApp("/", { fetch });
    const card = await screen.findByTestId("product-card");
    expect(within(card).getByRole("heading", { name: "Green tea" })).toBeInTheDocument();
    expect(screen.getByTestId("cart-count")).toHaveTextContent("0");
    await user.click(within(card).getByTestId("add-to-cart"));
    await user.click(within(card).getByTestId("add-to-cart"));
    expect(screen.getByTestId("cart-count")).toHaveTextContent("2");
    // Categories the API cannot list yet leave no broken filter behind.
    expect(screen.queryByRole("navigation", { name: "Categories" })).not.toBeInTheDocument();
  });

  it("searches and filters by category through the API", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({
      ...catalog,
      "GET /api/categories": () => json([{ category_id: "c1", name: "Drinks", slug: "drinks", description: null }]),
    });
    renderApp("/", { fetch });
    await screen.findByTestId("product-card");
    await user.type(screen.getByLabelText("Search products"), "tea");
    await user.click(screen.getByRole("button", { name: "Search" }));
    await user.click(screen.getByRole("button", { name: "Drinks" }));
    await waitFor(() => {
      const last = requests.filter((request) => request.path === "/api/products").at(-1);
      expect(last?.search.get("q")).toBe("tea");
      expect(last?.search.get("category")).toBe("drinks");
    });
    expect(screen.getByRole("button", { name: "Drinks" })).toHaveAttribute("aria-pressed", "true");
  });

  it("says so when nothing matches", async () => {
    const { fetch } = fakeFetch({ ...catalog, "GET /api/products": () => json({ items: [], page: 1, size: 12, total: 0 }) });
    renderApp("/?q=nothing", { fetch });
    expect(await screen.findByText("No products match.")).toBeInTheDocument();
  });
});

async function fillAddress(user: ReturnType<typeof userEvent.setup>) {
  for (const [label, value] of [
    ["Street", "Rua Augusta"],
    ["Number", "100"],
    ["City", "São Paulo"],
    ["State", "SP"],
    ["Postal code", "01305-000"],
    ["Country", "Brazil"],
  ]) {
    await user.type(screen.getByLabelText(label as string), value as string);
  }
}

async function cartWithTea(user: ReturnType<typeof userEvent.setup>) {
  const card = await screen.findByTestId("product-card");
  await user.click(within(card).getByTestId("add-to-cart"));
  await user.click(screen.getByRole("link", { name: /Cart/ }));
  await user.click(await screen.findByTestId("checkout"));
}

describe("checkout", () => {
  it("places a pix order with the delivery address and opens the order's page", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({
      ...catalog,
      "GET /api/users/me": () => json({ detail: "no profile yet" }, 404),
      "POST /api/orders": () => json({ order_id: "bbbbbbbb-0000-4000-8000-000000000001", status: "PENDING" }, 202),
      "GET /api/orders/:id": () => json({ detail: "not in this test" }, 503),
    });
    renderApp("/", { fetch, session: pair() });
    await cartWithTea(user);
    await fillAddress(user);
    await user.click(screen.getByTestId("payment-method-pix"));
    await user.click(screen.getByTestId("place-order"));
    await screen.findByRole("heading", { name: "Order bbbbbbbb" });
    const placed = requests.find((request) => request.method === "POST" && request.path === "/api/orders");
    expect(placed?.body).toEqual({
      items: [{ product_id: PRODUCT.product_id, quantity: 1 }],
      delivery_address: {
        street: "Rua Augusta",
        number: "100",
        city: "São Paulo",
        state: "SP",
        zipcode: "01305-000",
        country: "Brazil",
      },
      payment_method: "pix",
    });
    expect(placed?.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
    expect(screen.getByTestId("cart-count")).toHaveTextContent("0");
  });

  it("shows the API's 422 beside the field it names and keeps the cart", async () => {
    const user = userEvent.setup();
    const { fetch } = fakeFetch({
      ...catalog,
      "GET /api/users/me": () => json({ detail: "no profile yet" }, 404),
      "POST /api/orders": () =>
        json(
          { detail: [{ loc: ["body", "delivery_address", "zipcode"], msg: "String should have at most 20 characters", type: "string_too_long" }] },
          422,
        ),
    });
    renderApp("/", { fetch, session: pair() });
    await cartWithTea(user);
    await fillAddress(user);
    await user.click(screen.getByTestId("place-order"));
    const zipcode = screen.getByLabelText("Postal code");
    await waitFor(() => expect(zipcode).toHaveAttribute("aria-invalid", "true"));
    expect(zipcode).toHaveAccessibleDescription("String should have at most 20 characters");
    expect(screen.getByRole("alert")).toHaveTextContent("The order was not placed.");
    expect(screen.getByTestId("cart-count")).toHaveTextContent("1");
  });

  it("offers to continue as a guest and then shows the form", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({
      ...catalog,
      "POST /api/auth/guest": () => json({ user_id: "g1", ...pair({ sub: "g1", roles: ["guest"] }) }, 201),
      "GET /api/users/me": () => json({ detail: "no profile" }, 404),
    });
    const { tokens } = renderApp("/", { fetch });
    await cartWithTea(user);
    await user.click(screen.getByTestId("continue-as-guest"));
    expect(await screen.findByTestId("place-order")).toBeInTheDocument();
    expect(tokens.claims?.roles).toEqual(["guest"]);
    expect(requests.some((request) => request.path === "/api/auth/guest")).toBe(true);
  });
});

describe("log in and register", () => {
  it("shows the API's refusal and logs in", async () => {
    const user = userEvent.setup();
    let attempts = 0;
    const { fetch } = fakeFetch({
      ...catalog,
      "POST /api/auth/login": () => {
        attempts += 1;
        return attempts === 1 ? json({ detail: "invalid email or password" }, 401) : json(pair({ roles: ["customer"] }));
      },
    });
    const { tokens } = renderApp("/login", { fetch });
    await user.type(screen.getByTestId("login-email"), "ana@example.com");
    await user.type(screen.getByTestId("login-password"), "wrong");
    await user.click(screen.getByTestId("login-submit"));
    expect(await screen.findByRole("alert")).toHaveTextContent("invalid email or password");
    await user.click(screen.getByTestId("login-submit"));
    await screen.findByRole("heading", { name: "Catalog" });
    expect(tokens.claims?.roles).toEqual(["customer"]);
    expect(screen.getByRole("link", { name: "My orders" })).toBeInTheDocument();
  });

  it("registers a guest with its token so the guest keeps its orders", async () => {
    const user = userEvent.setup();
    const guest = pair({ sub: "g1", roles: ["guest"] });
    const { fetch, requests } = fakeFetch({
      ...catalog,
      "POST /api/auth/register": () => json({ user_id: "g1", email: "ana@example.com" }, 201),
      "POST /api/auth/login": () => json(pair({ sub: "g1", roles: ["customer"] }, "r-2")),
      "GET /api/users/me": () => json({ user_id: "g1", email: "ana@example.com", full_name: "Ana", phone: null, addresses: [] }),
    });
    renderApp("/register", { fetch, session: guest });
    expect(screen.getByText(/your orders stay with the account/)).toBeInTheDocument();
    await user.type(screen.getByLabelText("Full name"), "Ana");
    await user.type(screen.getByLabelText("Email"), "ana@example.com");
    await user.type(screen.getByLabelText("Password"), "correct-horse-42");
    await user.click(screen.getByRole("button", { name: "Register" }));
    await screen.findByRole("heading", { name: "Account" });
    const register = requests.find((request) => request.path === "/api/auth/register");
    expect(register?.headers.get("Authorization")).toBe(`Bearer ${guest.access_token}`);
  });
});
