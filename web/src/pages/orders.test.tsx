import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { eventStream, fakeFetch, json, order, pair, PRODUCT } from "../test/fakeApi";
import { renderApp } from "../test/render";
import { PIX_CODE_REREAD_MS } from "./OrderPage";

const ORDER_ID = "bbbbbbbb-0000-4000-8000-000000000001";

// A pix charge payment_service has made: awaiting payment, with its code.
const charge = {
  payment_id: "p1",
  order_id: ORDER_ID,
  amount: "9.00",
  currency: "BRL",
  status: "AWAITING_PAYMENT",
  qr_code: "000201pix",
  qr_code_png: "data:image/png;base64,iVBORw0KGgo=",
  expires_at: null,
};

function orderRoutes(overrides: Record<string, Parameters<typeof fakeFetch>[0][string]> = {}) {
  return {
    "GET /api/orders/:id/timeline": () => json([{ step: "order_placed", event_type: "order.created", service: "order", at: "2025-01-01T10:00:00Z" }]),
    "GET /api/payments": () => json([]),
    "GET /api/products/:id": () => json(PRODUCT),
    "GET /api/orders/:id": () => json(order()),
    ...overrides,
  };
}

describe("an order's page", () => {
  it("follows the order live from its event stream, without reloading", async () => {
    const stream = eventStream();
    const { fetch, requests } = fakeFetch(orderRoutes({ "GET /api/orders/:id/events": () => stream.response() }));
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    expect(await screen.findByTestId("order-status")).toHaveTextContent("PENDING");
    expect(await screen.findByText("2 × Green tea")).toBeInTheDocument();
    await screen.findByText(/Live: this page follows the order/);
    stream.status(order({ status: "STOCK_RESERVED", inventory: { status: "RESERVED" } }));
    await waitFor(() => expect(screen.getByTestId("order-status")).toHaveTextContent("STOCK_RESERVED"));
    stream.status(order({ status: "CONFIRMED", payment: { status: "AUTHORIZED" }, inventory: { status: "COMMITTED" } }));
    await waitFor(() => expect(screen.getByTestId("order-status")).toHaveTextContent("CONFIRMED"));
    // The order itself was read once; every change came over the stream. The timeline is
    // read again because the order changed.
    expect(requests.filter((request) => request.path === `/api/orders/${ORDER_ID}`)).toHaveLength(1);
    await waitFor(() =>
      expect(requests.filter((request) => request.path.endsWith("/timeline")).length).toBeGreaterThan(1),
    );
    expect(screen.queryByRole("button", { name: "Cancel order" })).not.toBeInTheDocument();
  });

  it("shows the pix QR code and the copia e cola text with a copy button", async () => {
    const user = userEvent.setup();
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const payment = {
      payment_id: "p1",
      order_id: ORDER_ID,
      amount: "9.00",
      currency: "BRL",
      status: "AWAITING_PAYMENT",
      qr_code: "00020126580014br.gov.bcb.pix0136abc5204000053039865406" + "9.005802BR6304ABCD",
      qr_code_png: "data:image/png;base64,iVBORw0KGgo=",
      expires_at: "2025-01-01T10:15:00Z",
    };
    const { fetch } = fakeFetch(
      orderRoutes({
        "GET /api/orders/:id": () => json(order({ status: "STOCK_RESERVED", payment_method: "pix", payment: { status: "AWAITING_PAYMENT" } })),
        "GET /api/payments": () => json([payment]),
        "GET /api/orders/:id/events": () => eventStream().response(),
      }),
    );
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    const qr = await screen.findByTestId("pix-qr");
    expect(qr).toHaveAttribute("src", payment.qr_code_png);
    expect(qr).toHaveAccessibleName(/Pix QR code/);
    expect(screen.getByLabelText("Pix copia e cola")).toHaveValue(payment.qr_code);
    await user.click(screen.getByRole("button", { name: "Copy the pix code" }));
    expect(writeText).toHaveBeenCalledWith(payment.qr_code);
    expect(await screen.findByText("Copied.")).toBeInTheDocument();
  });

  it("reads the pix code again as soon as the order's stream says the charge awaits payment", async () => {
    let asked = 0;
    let charged = false;
    const stream = eventStream();
    const { fetch } = fakeFetch(
      orderRoutes({
        "GET /api/orders/:id": () => json(order({ status: "STOCK_RESERVED", payment_method: "pix" })),
        "GET /api/payments": () => {
          asked += 1;
          return json(charged ? [charge] : []);
        },
        "GET /api/orders/:id/events": () => stream.response(),
      }),
    );
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    expect(await screen.findByText("Preparing the pix code…")).toBeInTheDocument();
    await screen.findByText(/Live: this page follows the order/);
    // While nothing changes on the stream, the payments are not asked for again.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(asked).toBe(1);
    // payment_service records the charge and emits payment.awaiting in one transaction; the
    // order's stream then carries the payment status AWAITING_PAYMENT.
    charged = true;
    stream.status(order({ status: "STOCK_RESERVED", payment_method: "pix", payment: { status: "AWAITING_PAYMENT" } }));
    expect(await screen.findByTestId("pix-qr")).toBeInTheDocument();
    expect(screen.queryByText("Preparing the pix code…")).not.toBeInTheDocument();
    expect(asked).toBe(2);
  });

  it("reads the payments again every few seconds while an open pix order has no code and no change arrives", async () => {
    const asked: number[] = [];
    const { fetch } = fakeFetch(
      orderRoutes({
        "GET /api/orders/:id": () => json(order({ status: "STOCK_RESERVED", payment_method: "pix" })),
        // The first read comes before the charge exists; the stream never says anything.
        "GET /api/payments": () => {
          asked.push(Date.now());
          return json(asked.length > 1 ? [charge] : []);
        },
        "GET /api/orders/:id/events": () => eventStream().response(),
      }),
    );
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    expect(await screen.findByText("Preparing the pix code…")).toBeInTheDocument();
    expect(await screen.findByTestId("pix-qr", {}, { timeout: PIX_CODE_REREAD_MS * 3 })).toBeInTheDocument();
    expect(asked).toHaveLength(2);
    const [first = 0, second = 0] = asked;
    expect(second - first).toBeGreaterThanOrEqual(PIX_CODE_REREAD_MS - 100);
  }, 15_000);

  it("cancels while allowed and shows a 409 as the API says it", async () => {
    const user = userEvent.setup();
    const { fetch } = fakeFetch(
      orderRoutes({
        "GET /api/orders/:id/events": () => eventStream().response(),
        "POST /api/orders/:id/cancel": () => json({ detail: "order is CONFIRMED and can no longer be cancelled" }, 409),
      }),
    );
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    await user.click(await screen.findByRole("button", { name: "Cancel order" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("order is CONFIRMED and can no longer be cancelled");
  });

  it("still shows the order when live updates are not available", async () => {
    const { fetch } = fakeFetch(orderRoutes({ "GET /api/orders/:id/events": () => json({ detail: "Not Found" }, 404) }));
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    expect(await screen.findByText("Live updates are not available for this order.")).toBeInTheDocument();
    expect(screen.getByTestId("order-status")).toHaveTextContent("PENDING");
  });

  it("opens no stream for an order that is over", async () => {
    const { fetch, requests } = fakeFetch(orderRoutes({ "GET /api/orders/:id": () => json(order({ status: "REJECTED" })) }));
    renderApp(`/orders/${ORDER_ID}`, { fetch, session: pair() });
    expect(await screen.findByTestId("order-status")).toHaveTextContent("REJECTED");
    expect(screen.getByText("The order is complete.")).toBeInTheDocument();
    expect(requests.some((request) => request.path.endsWith("/events"))).toBe(false);
  });

  it("sends a visitor without a session to log in first", async () => {
    const { fetch } = fakeFetch(orderRoutes());
    renderApp(`/orders/${ORDER_ID}`, { fetch });
    expect(await screen.findByRole("heading", { name: "Log in" })).toBeInTheDocument();
  });
});

describe("my orders", () => {
  it("lists orders with their status and filters by status", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({
      "GET /api/orders": () =>
        json({ items: [order(), order({ order_id: "cccccccc-0000-4000-8000-000000000002", status: "CONFIRMED" })], page: 1, size: 10, total: 2 }),
    });
    renderApp("/orders", { fetch, session: pair() });
    const rows = await screen.findAllByTestId("order-row");
    expect(rows).toHaveLength(2);
    expect(within(rows[1]!).getByText("CONFIRMED")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "CONFIRMED");
    await waitFor(() => expect(requests.at(-1)?.search.get("status")).toBe("CONFIRMED"));
  });

  it("says when there are none", async () => {
    const { fetch } = fakeFetch({ "GET /api/orders": () => json({ items: [], page: 1, size: 10, total: 0 }) });
    renderApp("/orders", { fetch, session: pair() });
    expect(await screen.findByText(/No orders yet/)).toBeInTheDocument();
  });

  it("lists notifications", async () => {
    const { fetch } = fakeFetch({
      "GET /api/notifications": () =>
        json([{ notification_id: "n1", kind: "order_confirmed", channel: "email", subject: "Your order is confirmed", status: "SENT", created_at: "2025-01-01T10:00:00Z" }]),
    });
    renderApp("/notifications", { fetch, session: pair() });
    expect(await screen.findByText("Your order is confirmed")).toBeInTheDocument();
    expect(screen.getByText(/Order confirmed · email · Sent/)).toBeInTheDocument();
  });
});

describe("account", () => {
  const profile = { user_id: "u1", email: "ana@example.com", full_name: "Ana", phone: null, addresses: [], national_id: null, notification_channels: ["email"] };

  it("sends only what changed and shows a refused CPF beside its field", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({
      "GET /api/users/me": () => json(profile),
      "PATCH /api/users/me": () =>
        json({ detail: [{ loc: ["body", "national_id"], msg: "Value error, CPF check digits do not match", type: "value_error" }] }, 422),
    });
    renderApp("/account", { fetch, session: pair() });
    await user.type(await screen.findByLabelText("CPF"), "111.444.777-00");
    await user.click(screen.getByLabelText("SMS"));
    await user.click(screen.getByRole("button", { name: "Save" }));
    const cpf = screen.getByLabelText("CPF");
    await waitFor(() => expect(cpf).toHaveAttribute("aria-invalid", "true"));
    expect(cpf).toHaveAccessibleDescription(/CPF check digits do not match/);
    expect(requests.find((request) => request.method === "PATCH")?.body).toEqual({
      national_id: "111.444.777-00",
      notification_channels: ["email", "sms"],
    });
  });

  it("shows a 409 for a CPF another customer holds", async () => {
    const user = userEvent.setup();
    const { fetch } = fakeFetch({
      "GET /api/users/me": () => json(profile),
      "PATCH /api/users/me": () => json({ detail: "this CPF belongs to another customer" }, 409),
    });
    renderApp("/account", { fetch, session: pair() });
    await user.type(await screen.findByLabelText("CPF"), "52998224725");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("this CPF belongs to another customer");
  });
});
