import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { eventStream, fakeFetch, json, order, pair } from "../test/fakeApi";
import { renderApp } from "../test/render";
import { createQueryClient } from "../app/services";
import { placeOnBoard } from "./StaffBoardPage";

const ORDER_ID = "bbbbbbbb-0000-4000-8000-000000000001";

describe("staff board", () => {
  it("groups confirmed orders by fulfilment and moves one to its next step", async () => {
    const user = userEvent.setup();
    const state = { fulfilment: "NOT_STARTED" };
    const { fetch, requests } = fakeFetch({
      "GET /api/orders": (request) => {
        const current = order({ status: "CONFIRMED", fulfilment: { status: state.fulfilment, updated_at: null } });
        const items = request.search.get("fulfilment") === state.fulfilment ? [current] : [];
        return json({ items, page: 1, size: 50, total: items.length });
      },
      "POST /api/orders/:id/fulfilment": (request) => {
        state.fulfilment = (request.body as { status: string }).status;
        return json(order({ status: "CONFIRMED", fulfilment: { status: state.fulfilment, updated_at: null } }));
      },
    });
    renderApp("/staff", { fetch, session: pair({ roles: ["staff"] }) });
    const notStarted = await screen.findByRole("region", { name: /Not started/ });
    const button = await within(notStarted).findByTestId("fulfilment-next");
    expect(button).toHaveTextContent("Start preparing");
    await user.click(button);
    const preparing = screen.getByRole("region", { name: /Preparing/ });
    await waitFor(() => expect(within(preparing).getByTestId("fulfilment-next")).toHaveTextContent("Mark shipped"));
    expect(within(notStarted).queryByTestId("fulfilment-next")).not.toBeInTheDocument();
    expect(requests.find((request) => request.method === "POST")?.body).toEqual({ status: "PREPARING" });
    expect(requests.find((request) => request.method === "POST")?.path).toBe(`/api/orders/${ORDER_ID}/fulfilment`);
  });

  it("follows every order's changes live: a new confirmed order appears, a step moves it, a cancel removes it", async () => {
    const stream = eventStream();
    let listed = 0;
    const { fetch, requests } = fakeFetch({
      "GET /api/orders/events": () => stream.response(),
      "GET /api/orders": () => {
        listed += 1;
        return json({ items: [], page: 1, size: 50, total: 0 });
      },
    });
    renderApp("/staff", { fetch, session: pair({ roles: ["staff"] }) });
    await screen.findByText(/Live: orders move here/);
    const notStarted = screen.getByRole("region", { name: /Not started/ });
    const preparing = screen.getByRole("region", { name: /Preparing/ });
    await waitFor(() => expect(within(notStarted).getByText("None.")).toBeInTheDocument());
    expect(listed).toBe(4);
    // A pending order is not on the board; once confirmed it is.
    stream.status(order({ status: "PENDING" }));
    stream.status(order({ status: "CONFIRMED", fulfilment: { status: "NOT_STARTED", updated_at: null } }));
    expect(await within(notStarted).findByTestId("fulfilment-next")).toHaveTextContent("Start preparing");
    expect(within(notStarted).getByRole("heading")).toHaveTextContent("(1)");
    stream.status(order({ status: "CONFIRMED", fulfilment: { status: "PREPARING", updated_at: null } }));
    expect(await within(preparing).findByTestId("fulfilment-next")).toHaveTextContent("Mark shipped");
    expect(within(notStarted).queryByTestId("fulfilment-next")).not.toBeInTheDocument();
    stream.status(order({ status: "CANCELLED" }));
    await waitFor(() => expect(within(preparing).queryByTestId("fulfilment-next")).not.toBeInTheDocument());
    // Changes may have been missed: the columns are read again, once.
    stream.write("event: resync\ndata: {}\n\n");
    await waitFor(() => expect(listed).toBe(8));
    expect(requests.filter((request) => request.path === "/api/orders/events")).toHaveLength(1);
    expect(requests[0]?.headers.get("Authorization")).toMatch(/^Bearer /);
  });

  it("keeps a live column to one page while counting every order in it", () => {
    const queryClient = createQueryClient();
    const key = ["orders", "board", "NOT_STARTED"];
    queryClient.setQueryData(key, { items: [], page: 1, size: 50, total: 0 });
    for (let index = 0; index < 60; index += 1) {
      const id = `bbbbbbbb-0000-4000-8000-${String(index).padStart(12, "0")}`;
      placeOnBoard(queryClient, order({ order_id: id, status: "CONFIRMED", fulfilment: { status: "NOT_STARTED", updated_at: null } }) as never);
    }
    const column = queryClient.getQueryData<{ items: { order_id: string }[]; total: number }>(key);
    expect(column?.items).toHaveLength(50);
    expect(column?.items[0]?.order_id).toBe("bbbbbbbb-0000-4000-8000-000000000059");
    expect(column?.total).toBe(60);
  });

  it("is not for customers", async () => {
    const { fetch } = fakeFetch({});
    renderApp("/staff", { fetch, session: pair({ roles: ["customer"] }) });
    expect(await screen.findByRole("heading", { name: "Not allowed" })).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Staff board" })).not.toBeInTheDocument();
  });
});

describe("admin", () => {
  it("shows an order's trace with every Kafka message and its headers", async () => {
    const user = userEvent.setup();
    const { fetch } = fakeFetch({
      "GET /api/ops/orders/:id/trace": () =>
        json({
          order_id: ORDER_ID,
          correlation_id: "corr-1",
          timeline: [{ step: "order_placed", event_type: "order.created", service: "order", at: "2025-01-01T10:00:00Z" }],
          messages: [
            { topic: "order.events", partition: 2, offset: 41, key: ORDER_ID, event_type: "order.created", event_id: "e1", headers: { correlation_id: "corr-1", traceparent: "00-abc-def-01" }, timestamp: 1735725600000 },
            { topic: "stock_reservation.events", partition: 2, offset: 7, key: ORDER_ID, event_type: "stock.reserved", event_id: "e2", headers: [["correlation_id", "corr-1"]], timestamp: 1735725600100 },
          ],
          inbox: [{ service: "product_service", event_id: "e1", processed_at: "2025-01-01T10:00:00Z" }],
        }),
    });
    renderApp(`/admin/trace/${ORDER_ID}`, { fetch, session: pair({ roles: ["admin", "customer"] }) });
    const messages = await screen.findAllByTestId("trace-message");
    expect(messages).toHaveLength(2);
    expect(within(messages[0]!).getByText("order.events / 2 / 41")).toBeInTheDocument();
    await user.click(within(messages[0]!).getByText("2 headers"));
    expect(within(messages[0]!).getByText("00-abc-def-01")).toBeVisible();
    expect(screen.getByText("Correlation id").nextElementSibling).toHaveTextContent("corr-1");
    expect(screen.getByRole("columnheader", { name: "Processed at" })).toBeInTheDocument();
  });

  it("refuses an order id that is not a UUID before asking the API", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({});
    renderApp("/admin/trace", { fetch, session: pair({ roles: ["admin"] }) });
    await user.type(screen.getByLabelText("Order id"), "not-an-id");
    await user.click(screen.getByRole("button", { name: "Trace" }));
    expect(screen.getByLabelText("Order id")).toHaveAccessibleDescription(/An order id is a UUID/);
    expect(requests).toHaveLength(0);
  });

  it("creates a product and shows a 422 beside the field", async () => {
    const user = userEvent.setup();
    let created = false;
    const { fetch, requests } = fakeFetch({
      "GET /api/categories": () => json([{ category_id: "c1", name: "Drinks", slug: "drinks", description: null }]),
      "GET /api/products": () => json({ items: [], page: 1, size: 20, total: 0 }),
      "POST /api/products": (request) => {
        if (created) return json({ ...(request.body as object), product_id: "p1", stock_available: 5 }, 201);
        created = true;
        return json({ detail: [{ loc: ["body", "price"], msg: "price must be > 0", type: "value_error" }] }, 422);
      },
    });
    renderApp("/admin/products", { fetch, session: pair({ roles: ["admin"] }) });
    const form = await screen.findByRole("form", { name: "New product" });
    await user.type(within(form).getByLabelText("SKU"), "TEA-2");
    await user.type(within(form).getByLabelText("Name"), "Black tea");
    await user.type(within(form).getByLabelText(/^Price/), "0");
    await user.clear(within(form).getByLabelText("Stock"));
    await user.type(within(form).getByLabelText("Stock"), "5");
    await user.selectOptions(within(form).getByLabelText("Category"), "c1");
    await user.click(within(form).getByRole("button", { name: "Create product" }));
    await waitFor(() => expect(within(form).getByLabelText(/^Price/)).toHaveAttribute("aria-invalid", "true"));
    expect(within(form).getByText("price must be > 0")).toBeInTheDocument();
    await user.clear(within(form).getByLabelText(/^Price/));
    await user.type(within(form).getByLabelText(/^Price/), "3.20");
    await user.click(within(form).getByRole("button", { name: "Create product" }));
    expect(await within(form).findByText("Created Black tea.")).toBeInTheDocument();
    expect(requests.filter((request) => request.method === "POST").at(-1)?.body).toEqual({
      sku: "TEA-2",
      name: "Black tea",
      description: null,
      price: "3.20",
      currency: "EUR",
      stock: 5,
      category_id: "c1",
    });
  });

  it("replays chosen dead letters", async () => {
    const user = userEvent.setup();
    const { fetch, requests } = fakeFetch({
      "GET /api/ops/dlq": () =>
        json([{ topic: "order.events.dlq", partition: 0, offset: 3, event_type: "order.created", event_id: "e9", error: "boom", error_type: "ValueError", attempts: 5, dead_at: "2025-01-01T10:00:00Z" }]),
      "POST /api/ops/dlq/replay": () => json({ replayed: 1 }, 202),
    });
    renderApp("/admin/dlq", { fetch, session: pair({ roles: ["admin"] }) });
    await user.click(await screen.findByLabelText(/Replay order.created e9/));
    await user.click(screen.getByRole("button", { name: "Replay 1 chosen" }));
    expect(await screen.findByText("Replayed 1 message(s).")).toBeInTheDocument();
    expect(requests.find((request) => request.method === "POST")?.body).toEqual({ topic: "order.events.dlq", event_ids: ["e9"] });
  });
});
