// A fake of the gateway for unit tests: routes "METHOD /path" to handlers that answer with real
// Response objects, and records every request so tests can assert what the client sent.
import { vi } from "vitest";

export interface Recorded {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
  body: unknown;
}

export type Handler = (request: Recorded) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A fake fetch: the first route whose "METHOD /path" matches (":x" matches one segment) answers. */
export function fakeFetch(routes: Record<string, Handler>) {
  const requests: Recorded[] = [];
  const compiled = Object.entries(routes).map(([route, handler]) => {
    const [method, pattern = ""] = route.split(" ");
    const regex = new RegExp(`^${pattern.replace(/:[^/]+/g, "[^/]+")}$`);
    return { method, regex, handler };
  });
  const fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), "http://localhost");
    const text = typeof init.body === "string" ? init.body : null;
    const request: Recorded = {
      method: (init.method ?? "GET").toUpperCase(),
      path: url.pathname,
      search: url.searchParams,
      headers: new Headers(init.headers),
      body: text ? JSON.parse(text) : undefined,
    };
    requests.push(request);
    const route = compiled.find((item) => item.method === request.method && item.regex.test(request.path));
    if (!route) return json({ detail: `no fake for ${request.method} ${request.path}` }, 404);
    return route.handler(request);
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, requests };
}

function base64url(value: string): string {
  return btoa(value).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An unsigned token with the claims the app reads (the app never verifies tokens). */
export function token(claims: { sub?: string; roles?: string[]; email?: string; exp?: number } = {}): string {
  const payload = {
    sub: claims.sub ?? "11111111-1111-4111-8111-111111111111",
    roles: claims.roles ?? ["customer"],
    email: claims.email ?? "ana@example.com",
    exp: claims.exp ?? Math.floor(Date.now() / 1000) + 900,
  };
  return `${base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${base64url(JSON.stringify(payload))}.signature`;
}

export function pair(claims: Parameters<typeof token>[0] = {}, refresh = "refresh-1") {
  return { access_token: token(claims), refresh_token: refresh, token_type: "bearer", expires_in: 900 };
}

/** An event stream whose events the test pushes one by one, then ends. */
export function eventStream() {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
    },
  });
  return {
    response: () => new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } }),
    /** Raw text, so tests can split an event across chunks. */
    write: (text: string) => controller.enqueue(encoder.encode(text)),
    status: (order: unknown) => controller.enqueue(encoder.encode(`event: status\ndata: ${JSON.stringify(order)}\n\n`)),
    end: () => controller.close(),
  };
}

export const PRODUCT = {
  product_id: "aaaaaaaa-0000-4000-8000-000000000001",
  sku: "TEA-1",
  name: "Green tea",
  description: "Loose leaves",
  price: "4.50",
  currency: "EUR",
  stock_available: 10,
};

export function order(overrides: Record<string, unknown> = {}) {
  return {
    order_id: "bbbbbbbb-0000-4000-8000-000000000001",
    customer_id: "11111111-1111-4111-8111-111111111111",
    status: "PENDING",
    items: [{ product_id: PRODUCT.product_id, quantity: 2, unit_price: "4.50" }],
    total: "9.00",
    currency: "EUR",
    payment: { status: "PENDING" },
    inventory: { status: "PENDING" },
    failure_reason: null,
    created_at: "2025-01-01T10:00:00Z",
    updated_at: "2025-01-01T10:00:00Z",
    ...overrides,
  };
}
