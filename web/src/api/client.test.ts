import { describe, expect, it, vi } from "vitest";

import { eventStream, fakeFetch, json, order, pair } from "../test/fakeApi";
import { ApiClient, flattenDeadLetters, normaliseHeaders, streamBackoff, type StreamState } from "./client";
import { ApiError } from "./errors";
import { TokenStore } from "./tokens";
import type { Order } from "./types";

function client(routes: Parameters<typeof fakeFetch>[0], session = pair({}, "refresh-1")) {
  const fake = fakeFetch(routes);
  const tokens = new TokenStore(window.sessionStorage);
  if (session) tokens.set(session);
  const onSessionExpired = vi.fn();
  const api = new ApiClient({ tokens, fetch: fake.fetch, onSessionExpired, streamRetryMs: 5 });
  return { api, tokens, onSessionExpired, ...fake };
}

describe("calls", () => {
  it("sends the bearer token and parses JSON", async () => {
    const { api, tokens, requests } = client({ "GET /api/users/me": () => json({ user_id: "u1" }) });
    await expect(api.users.me()).resolves.toEqual({ user_id: "u1" });
    expect(requests[0]?.headers.get("Authorization")).toBe(`Bearer ${tokens.accessToken}`);
  });

  it("turns a 422 into an ApiError with its field problems", async () => {
    const { api } = client({
      "PATCH /api/users/me": () =>
        json({ detail: [{ loc: ["body", "national_id"], msg: "invalid CPF", type: "value_error" }] }, 422),
    });
    const error = await api.users.updateMe({ national_id: "123" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).fieldError("national_id")).toBe("invalid CPF");
  });

  it("never sends a token with the login and keeps the new pair", async () => {
    const { api, tokens, requests } = client(
      { "POST /api/auth/login": () => json(pair({ roles: ["admin"] }, "r-admin")) },
      null as never,
    );
    await api.auth.login("a@example.com", "pw");
    expect(requests[0]?.headers.get("Authorization")).toBeNull();
    expect(tokens.claims?.roles).toEqual(["admin"]);
    expect(tokens.refreshToken).toBe("r-admin");
  });

  it("registers with a guest's token (the guest keeps its orders) and never with anyone else's", async () => {
    const registered = () => json({ user_id: "u1", email: "ana@example.com" }, 201);
    const asGuest = client({ "POST /api/auth/register": registered }, pair({ roles: ["guest"] }));
    await asGuest.api.auth.register({ email: "ana@example.com", password: "pw", full_name: "Ana" });
    expect(asGuest.requests[0]?.headers.get("Authorization")).toBe(`Bearer ${asGuest.tokens.accessToken}`);
    // A customer's token on register is a 409 at the API: the client leaves it out.
    const asCustomer = client({ "POST /api/auth/register": registered }, pair({ roles: ["customer"] }));
    await asCustomer.api.auth.register({ email: "bo@example.com", password: "pw", full_name: "Bo" });
    expect(asCustomer.requests[0]?.headers.get("Authorization")).toBeNull();
  });

  it("renews a reloaded guest's token before registering, so the guest is not left behind", async () => {
    window.sessionStorage.clear();
    const fake = fakeFetch({
      "POST /api/auth/refresh": () => json(pair({ roles: ["guest"] }, "refresh-2")),
      "POST /api/auth/register": () => json({ user_id: "u1", email: "ana@example.com" }, 201),
    });
    new TokenStore(window.sessionStorage).set(pair({ roles: ["guest"] }, "refresh-1"));
    const reloaded = new TokenStore(window.sessionStorage); // only the refresh token survives
    const api = new ApiClient({ tokens: reloaded, fetch: fake.fetch });
    await api.auth.register({ email: "ana@example.com", password: "pw", full_name: "Ana" });
    expect(fake.requests.map((request) => request.path)).toEqual(["/api/auth/refresh", "/api/auth/register"]);
    expect(fake.requests[1]?.headers.get("Authorization")).toBe(`Bearer ${reloaded.accessToken}`);
  });

  it("leaves payment_method out for card (the default) and sends it for pix", async () => {
    const { api, requests } = client({ "POST /api/orders": () => json({ order_id: "o1", status: "PENDING" }, 202) });
    const items = [{ product_id: "p1", quantity: 1 }];
    await api.orders.place({ items, payment_method: "card" }, "key-1");
    await api.orders.place({ items, payment_method: "pix" }, "key-2");
    expect(requests[0]?.body).toEqual({ items });
    expect(requests[0]?.headers.get("Idempotency-Key")).toBe("key-1");
    expect(requests[1]?.body).toEqual({ items, payment_method: "pix" });
  });

  it("reports an unreachable server as status 0", async () => {
    const tokens = new TokenStore(null);
    const api = new ApiClient({ tokens, fetch: () => Promise.reject(new TypeError("Failed to fetch")) });
    const error = await api.products.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(0);
  });
});

describe("token refresh", () => {
  it("refreshes once on a 401 and repeats the call with the new token", async () => {
    let calls = 0;
    const fresh = pair({ sub: "u1" }, "refresh-2");
    const { api, tokens, requests } = client({
      "GET /api/orders": (request) => {
        calls += 1;
        return request.headers.get("Authorization") === `Bearer ${fresh.access_token}`
          ? json({ items: [], page: 1, size: 20, total: 0 })
          : json({ detail: "token expired" }, 401);
      },
      "POST /api/auth/refresh": () => json(fresh),
    });
    await expect(api.orders.list()).resolves.toMatchObject({ total: 0 });
    expect(calls).toBe(2);
    expect(requests.filter((request) => request.path === "/api/auth/refresh")).toHaveLength(1);
    expect(requests.find((request) => request.path === "/api/auth/refresh")?.body).toEqual({
      refresh_token: "refresh-1",
    });
    expect(tokens.refreshToken).toBe("refresh-2");
  });

  it("shares one refresh between calls that failed together", async () => {
    const fresh = pair({ sub: "u2" }, "refresh-2");
    const { api, requests } = client({
      "GET /api/:any": (request) =>
        request.headers.get("Authorization") === `Bearer ${fresh.access_token}`
          ? json([])
          : json({ detail: "expired" }, 401),
      "POST /api/auth/refresh": async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return json(fresh);
      },
    });
    await Promise.all([api.notifications.list(), api.payments.forOrder("o1"), api.categories.list()]);
    // A refresh token is single use: a second refresh with it would revoke the whole family.
    expect(requests.filter((request) => request.path === "/api/auth/refresh")).toHaveLength(1);
  });

  it("retries with a pair another call already renewed instead of refreshing again", async () => {
    const fresh = pair({ sub: "u2" }, "refresh-2");
    let releaseSlow!: () => void;
    const slowAnswered = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const { api, requests } = client({
      "GET /api/notifications": async (request) => {
        if (request.headers.get("Authorization") === `Bearer ${fresh.access_token}`) return json([]);
        await slowAnswered; // its 401 arrives after the other call's refresh is over
        return json({ detail: "expired" }, 401);
      },
      "GET /api/categories": (request) =>
        request.headers.get("Authorization") === `Bearer ${fresh.access_token}`
          ? json([])
          : json({ detail: "expired" }, 401),
      "POST /api/auth/refresh": () => json(fresh),
    });
    const slow = api.notifications.list();
    await api.categories.list();
    releaseSlow();
    await expect(slow).resolves.toEqual([]);
    expect(requests.filter((request) => request.path === "/api/auth/refresh")).toHaveLength(1);
  });

  it("ends the session when the refresh token is refused", async () => {
    const { api, tokens, onSessionExpired } = client({
      "GET /api/orders": () => json({ detail: "expired" }, 401),
      "POST /api/auth/refresh": () => json({ detail: "refresh token reused" }, 401),
    });
    const error = await api.orders.list().catch((caught: unknown) => caught);
    expect((error as ApiError).status).toBe(401);
    expect(onSessionExpired).toHaveBeenCalledOnce();
    expect(tokens.accessToken).toBeNull();
    expect(tokens.refreshToken).toBeNull();
  });

  it("ends the session when the call still answers 401 after a refresh, without a second refresh", async () => {
    const { api, requests, onSessionExpired } = client({
      "GET /api/orders": () => json({ detail: "no" }, 401),
      "POST /api/auth/refresh": () => json(pair({}, "refresh-2")),
    });
    await expect(api.orders.list()).rejects.toBeInstanceOf(ApiError);
    expect(requests.filter((request) => request.path === "/api/auth/refresh")).toHaveLength(1);
    expect(requests.filter((request) => request.path === "/api/orders")).toHaveLength(2);
    expect(onSessionExpired).toHaveBeenCalledOnce();
  });

  it("keeps the session when the refresh fails because the server is down", async () => {
    const { api, tokens, onSessionExpired } = client({
      "GET /api/orders": () => json({ detail: "expired" }, 401),
      "POST /api/auth/refresh": () => json({ detail: "no instance of AUTH-SERVICE" }, 503),
    });
    const error = await api.orders.list().catch((caught: unknown) => caught);
    expect((error as ApiError).status).toBe(503);
    expect(onSessionExpired).not.toHaveBeenCalled();
    expect(tokens.refreshToken).toBe("refresh-1");
  });

  it("restores the access token of a reloaded page before the first call", async () => {
    window.sessionStorage.clear();
    const fake = fakeFetch({
      "POST /api/auth/refresh": () => json(pair({}, "refresh-2")),
      "GET /api/users/me": () => json({ user_id: "u1" }),
    });
    const tokens = new TokenStore(window.sessionStorage);
    tokens.set(pair({}, "refresh-1"));
    const reloaded = new TokenStore(window.sessionStorage); // only the refresh token survives
    const api = new ApiClient({ tokens: reloaded, fetch: fake.fetch });
    await api.users.me();
    expect(fake.requests.map((request) => request.path)).toEqual(["/api/auth/refresh", "/api/users/me"]);
    expect(fake.requests[1]?.headers.get("Authorization")).toBe(`Bearer ${reloaded.accessToken}`);
  });
});

describe("order stream", () => {
  function follow(api: ApiClient, orderId = "o1") {
    const orders: Order[] = [];
    const states: StreamState[] = [];
    const controller = new AbortController();
    const done = api.orders.stream(
      orderId,
      { onOrder: (item) => orders.push(item), onState: (state) => states.push(state) },
      controller.signal,
    );
    return { orders, states, done, controller };
  }

  it("parses status events, even split across chunks, and ends at a final state", async () => {
    const stream = eventStream();
    const { api, requests } = client({ "GET /api/orders/:id/events": () => stream.response() });
    const { orders, states, done } = follow(api);
    stream.write(": connected\n\n");
    stream.status(order({ status: "PENDING" }));
    const confirmed = JSON.stringify(order({ status: "STOCK_RESERVED" }));
    stream.write(`event: status\ndata: ${confirmed.slice(0, 20)}`);
    stream.write(`${confirmed.slice(20)}\n\n`);
    stream.status(order({ status: "CANCELLED" }));
    stream.end();
    await done;
    expect(orders.map((item) => item.status)).toEqual(["PENDING", "STOCK_RESERVED", "CANCELLED"]);
    expect(states).toEqual(["connecting", "live", "ended"]);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.headers.get("Authorization")).toMatch(/^Bearer /);
    expect(requests[0]?.headers.get("Accept")).toBe("text/event-stream");
  });

  it("reconnects when the stream drops before a final state", async () => {
    const first = eventStream();
    const second = eventStream();
    const streams = [first, second];
    const { api, requests } = client({ "GET /api/orders/:id/events": () => streams.shift()!.response() });
    const { orders, states, done } = follow(api);
    first.status(order({ status: "PENDING" }));
    first.end();
    await vi.waitFor(() => expect(requests).toHaveLength(2));
    second.status(order({ status: "REJECTED" }));
    second.end();
    await done;
    expect(orders.map((item) => item.status)).toEqual(["PENDING", "REJECTED"]);
    expect(states).toContain("reconnecting");
  });

  it("does not reconnect to an order it may not see", async () => {
    const { api, requests } = client({ "GET /api/orders/:id/events": () => json({ detail: "order not found" }, 404) });
    const { states, done } = follow(api);
    const error = await done.catch((caught: unknown) => caught);
    expect((error as ApiError).status).toBe(404);
    expect(states.at(-1)).toBe("failed");
    expect(requests).toHaveLength(1);
  });

  it("refreshes an expired token and streams with the new one", async () => {
    const stream = eventStream();
    const fresh = pair({ sub: "u2" }, "refresh-2");
    const { api, requests } = client({
      "GET /api/orders/:id/events": (request) =>
        request.headers.get("Authorization") === `Bearer ${fresh.access_token}`
          ? stream.response()
          : json({ detail: "expired" }, 401),
      "POST /api/auth/refresh": () => json(fresh),
    });
    const { orders, done } = follow(api);
    stream.status(order({ status: "CONFIRMED", fulfilment: { status: "DELIVERED", updated_at: null } }));
    stream.end();
    await done;
    expect(orders).toHaveLength(1);
    expect(requests.map((request) => request.path)).toEqual([
      "/api/orders/o1/events",
      "/api/auth/refresh",
      "/api/orders/o1/events",
    ]);
  });

  it("stops when the page leaves", async () => {
    const stream = eventStream();
    const { api } = client({ "GET /api/orders/:id/events": () => stream.response() });
    const { states, done, controller } = follow(api);
    stream.status(order());
    await vi.waitFor(() => expect(states).toContain("live"));
    controller.abort();
    await done;
    expect(states).not.toContain("ended");
  });

  it("backs off by doubling up to a cap", () => {
    expect([0, 1, 2, 3, 10].map((attempt) => streamBackoff(attempt))).toEqual([1000, 2000, 4000, 8000, 15000]);
  });
});

describe("operators' shapes", () => {
  it("normalises trace headers from an object or a list of pairs", () => {
    expect(normaliseHeaders({ event_type: "order.created", version: 1 })).toEqual([
      ["event_type", "order.created"],
      ["version", "1"],
    ]);
    expect(normaliseHeaders([["correlation_id", "c1"], { key: "traceparent", value: "00-ab" }])).toEqual([
      ["correlation_id", "c1"],
      ["traceparent", "00-ab"],
    ]);
  });

  it("flattens dead letters grouped per topic", () => {
    const letter = { partition: 0, offset: 7, event_id: "e1" };
    expect(flattenDeadLetters([{ topic: "order.events.dlq", ...letter }])).toHaveLength(1);
    expect(flattenDeadLetters({ items: [{ topic: "t", ...letter }] })).toHaveLength(1);
    expect(flattenDeadLetters({ topics: [{ topic: "order.events.dlq", items: [letter] }] })[0]?.topic).toBe(
      "order.events.dlq",
    );
    expect(flattenDeadLetters({ "payment.events.dlq": [letter] })[0]?.topic).toBe("payment.events.dlq");
  });
});
