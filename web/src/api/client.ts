// The one typed client of the public API. Every page talks to the platform through it, so a
// change of an endpoint's shape is an edit here and in ./types.ts, nowhere else.
//
// Tokens: every call sends the access token when there is one. A 401 refreshes the pair once
// (one refresh at a time, shared by every call that hit it) and repeats the call once; a second
// 401, or a refresh the API refuses, ends the session.
import { EventStreamContentType, fetchEventSource } from "@microsoft/fetch-event-source";

import { ApiError } from "./errors";
import type { TokenStore } from "./tokens";
import {
  isFinal,
  type Category,
  type CategoryInput,
  type DeadLetter,
  type FulfilmentStatus,
  type GrantableRole,
  type GuestSession,
  type NewOrder,
  type Notification,
  type Order,
  type OrderAccepted,
  type OrderQuery,
  type OrderTrace,
  type Page,
  type Payment,
  type Product,
  type ProductCreate,
  type ProductQuery,
  type ProductUpdate,
  type Profile,
  type ProfileUpdate,
  type Registered,
  type Replayed,
  type RolesGranted,
  type TimelineStep,
  type TokenPair,
  type TraceMessage,
} from "./types";

type QueryValue = string | number | undefined | null;

interface CallOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  /** false for the calls that exchange credentials for tokens: never a bearer token, no refresh. */
  auth?: boolean;
  signal?: AbortSignal;
}

export interface ApiClientOptions {
  tokens: TokenStore;
  /** "" in the browser: the app and the API share the gateway's origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Called once the session ended because the API refused its tokens. */
  onSessionExpired?: () => void;
  /** How long a call may wait for the response's headers. */
  timeoutMs?: number;
  /** The first wait before a dropped order stream reconnects; it doubles up to 15 s. */
  streamRetryMs?: number;
}

/** What a live order stream reports besides the orders themselves. */
export type StreamState = "connecting" | "live" | "reconnecting" | "ended" | "failed";

export interface OrderStreamHandlers {
  onOrder: (order: Order) => void;
  onState?: (state: StreamState, error?: ApiError) => void;
}

/** The stream cannot work (403, 404, ...): do not reconnect. */
class FatalStreamError extends Error {
  constructor(readonly apiError: ApiError) {
    super(apiError.message);
  }
}

const STREAM_RETRY_FIRST_MS = 1000;
const STREAM_RETRY_MAX_MS = 15000;
const RETRYABLE_STATUSES = new Set([0, 429, 502, 503, 504]);

/** Milliseconds to wait before reconnect number `attempt` (0-based): doubling, capped. */
export function streamBackoff(attempt: number, firstMs = STREAM_RETRY_FIRST_MS): number {
  return Math.min(firstMs * 2 ** attempt, STREAM_RETRY_MAX_MS);
}

/** Trace headers as name/value pairs, whether the API sends an object or a list of pairs. */
export function normaliseHeaders(headers: unknown): [string, string][] {
  if (Array.isArray(headers)) {
    return headers.flatMap((entry: unknown) => {
      if (Array.isArray(entry) && entry.length >= 2) return [[String(entry[0]), String(entry[1])]];
      if (typeof entry === "object" && entry !== null) {
        const { key, name, value } = entry as { key?: unknown; name?: unknown; value?: unknown };
        const label = key ?? name;
        if (label !== undefined) return [[String(label), value == null ? "" : String(value)]];
      }
      return [];
    });
  }
  if (typeof headers === "object" && headers !== null) {
    return Object.entries(headers).map(([name, value]) => [
      name,
      value == null ? "" : typeof value === "string" ? value : JSON.stringify(value),
    ]);
  }
  return [];
}

/** The list under the first of `keys` that holds one; the body itself when it is a list. */
function listOf<T>(body: unknown, ...keys: string[]): T[] {
  if (Array.isArray(body)) return body as T[];
  if (typeof body !== "object" || body === null) return [];
  for (const key of keys) {
    const inner = (body as Record<string, unknown>)[key];
    if (Array.isArray(inner)) return inner as T[];
  }
  return [];
}

/**
 * Dead letters as one list, whether the API sends a list, `{items}`, groups per topic
 * (`{topics: [{topic, items}]}`) or an object keyed by topic.
 */
export function flattenDeadLetters(body: unknown): DeadLetter[] {
  const direct = listOf<DeadLetter>(body, "items", "dead_letters");
  if (direct.length || Array.isArray(body) || typeof body !== "object" || body === null) {
    return direct.flatMap((entry) => {
      const group = entry as unknown as Record<string, unknown>;
      const inner = listOf<DeadLetter>(group, "items", "dead_letters", "messages");
      return inner.length && !("offset" in group)
        ? inner.map((letter) => ({ ...letter, topic: letter.topic ?? String(group.topic) }))
        : [entry];
    });
  }
  const topics = (body as Record<string, unknown>).topics ?? body;
  if (Array.isArray(topics)) return flattenDeadLetters(topics);
  if (typeof topics !== "object" || topics === null) return [];
  return Object.entries(topics).flatMap(([topic, letters]) =>
    listOf<DeadLetter>(letters, "items", "dead_letters", "messages").map((letter) => ({
      ...letter,
      topic: letter.topic ?? topic,
    })),
  );
}

export class ApiClient {
  private readonly tokens: TokenStore;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly onSessionExpired: () => void;
  private readonly timeoutMs: number;
  private readonly streamRetryMs: number;
  private refreshing: Promise<boolean> | null = null;

  constructor(options: ApiClientOptions) {
    this.tokens = options.tokens;
    this.baseUrl = options.baseUrl ?? "";
    // Bound to the global: window.fetch called as a method of another object throws.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.onSessionExpired = options.onSessionExpired ?? (() => undefined);
    this.timeoutMs = options.timeoutMs ?? 15000;
    this.streamRetryMs = options.streamRetryMs ?? STREAM_RETRY_FIRST_MS;
  }

  // -- the transport ------------------------------------------------------------------------------

  private url(path: string, query?: Record<string, QueryValue>): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ""}`;
  }

  /** fetch with a timeout up to the response's headers; a network failure becomes ApiError(0). */
  private async send(url: string, init: RequestInit, bearer: string | null): Promise<Response> {
    const headers = new Headers(init.headers);
    if (bearer) headers.set("Authorization", `Bearer ${bearer}`);
    const controller = new AbortController();
    const callerSignal = init.signal;
    const abort = () => controller.abort();
    if (callerSignal?.aborted) controller.abort();
    callerSignal?.addEventListener("abort", abort);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      return await this.fetchImpl(url, { ...init, headers, signal: controller.signal });
    } catch (error) {
      if (callerSignal?.aborted) throw error;
      throw new ApiError(0, timedOut ? "The server took too long to answer; try again." : null);
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", abort);
    }
  }

  private expireSession(): void {
    this.tokens.clear();
    this.onSessionExpired();
  }

  /** Exchange the refresh token for a new pair; false (and the session ended) when refused. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.refreshOnce().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refreshOnce(): Promise<boolean> {
    const refreshToken = this.tokens.refreshToken;
    if (!refreshToken) return false;
    const response = await this.send(
      this.url("/api/auth/refresh"),
      {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      },
      null,
    );
    if (response.ok) {
      this.tokens.set((await response.json()) as TokenPair);
      return true;
    }
    // A refused refresh token (expired, rotated, revoked) ends the session; a server that is
    // down does not: the same token is still good once it is back.
    if (response.status >= 400 && response.status < 500 && response.status !== 429) {
      this.expireSession();
      return false;
    }
    throw await ApiError.fromResponse(response);
  }

  /** Restore or renew the access token before a call when it is missing or expired. */
  private async freshAccessToken(): Promise<string | null> {
    const missing = this.tokens.accessToken === null || this.tokens.accessExpired();
    if (missing && this.tokens.refreshToken) await this.refresh();
    return this.tokens.accessToken;
  }

  /** A fetch that carries the session's token and survives one expired token (refresh, retry). */
  async authorizedFetch(url: string, init: RequestInit = {}): Promise<Response> {
    const token = await this.freshAccessToken();
    const response = await this.send(url, init, token);
    if (response.status !== 401 || token === null) return response;
    // Another call may have renewed the pair while this one was on its way: use that.
    const renewed = this.tokens.accessToken !== null && this.tokens.accessToken !== token;
    if (!renewed && !(await this.refresh())) return response;
    const retried = await this.send(url, init, this.tokens.accessToken);
    if (retried.status === 401) this.expireSession();
    return retried;
  }

  /** One JSON call: the parsed body, or ApiError with the API's detail. */
  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    const init: RequestInit = { method, headers };
    if (options.signal) init.signal = options.signal;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const url = this.url(path, options.query);
    const response =
      options.auth === false ? await this.send(url, init, null) : await this.authorizedFetch(url, init);
    if (!response.ok) throw await ApiError.fromResponse(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  // -- auth ---------------------------------------------------------------------------------------

  readonly auth = {
    /** Log in; the session holds the new tokens. */
    login: async (email: string, password: string): Promise<TokenPair> => {
      const pair = await this.call<TokenPair>("POST", "/api/auth/login", {
        body: { email, password },
        auth: false,
      });
      this.tokens.set(pair);
      return pair;
    },
    /** An anonymous customer with its own tokens. */
    guest: async (): Promise<GuestSession> => {
      const session = await this.call<GuestSession>("POST", "/api/auth/guest", {
        body: {},
        auth: false,
      });
      this.tokens.set(session);
      return session;
    },
    /**
     * Register. A guest's session is sent along, so the guest becomes this customer and keeps its
     * orders; any other session is not (the API answers 409 to a register carrying a customer's,
     * staff's or admin's token), so registering from a stale or someone else's session still works.
     */
    register: async (body: { email: string; password: string; full_name: string }) => {
      // A reloaded page holds only the refresh token: renew first to learn whose session it is.
      await this.freshAccessToken().catch(() => null);
      const asGuest = this.tokens.claims?.roles.includes("guest") ?? false;
      return this.call<Registered>("POST", "/api/auth/register", { body, auth: asGuest });
    },
    /** Revoke the refresh token (best effort) and forget both tokens. */
    logout: async (): Promise<void> => {
      const refreshToken = this.tokens.refreshToken;
      this.tokens.clear();
      if (refreshToken) {
        await this.call<void>("POST", "/api/auth/logout", {
          body: { refresh_token: refreshToken },
          auth: false,
        }).catch(() => undefined);
      }
    },
    grantRoles: (userId: string, roles: GrantableRole[]) =>
      this.call<RolesGranted>("PUT", `/api/auth/users/${encodeURIComponent(userId)}/roles`, {
        body: { roles },
      }),
  };

  // -- users --------------------------------------------------------------------------------------

  readonly users = {
    me: () => this.call<Profile>("GET", "/api/users/me"),
    updateMe: (patch: ProfileUpdate) => this.call<Profile>("PATCH", "/api/users/me", { body: patch }),
    list: (query: { page?: number; size?: number; national_id?: string } = {}) =>
      this.call<Page<Profile>>("GET", "/api/users", { query }),
  };

  // -- catalog ------------------------------------------------------------------------------------

  readonly categories = {
    list: () => this.call<Category[]>("GET", "/api/categories"),
    create: (body: CategoryInput) => this.call<Category>("POST", "/api/categories", { body }),
    update: (categoryId: string, body: CategoryInput) =>
      this.call<Category>("PATCH", `/api/categories/${encodeURIComponent(categoryId)}`, { body }),
    remove: (categoryId: string) =>
      this.call<void>("DELETE", `/api/categories/${encodeURIComponent(categoryId)}`),
  };

  readonly products = {
    list: (query: ProductQuery = {}) =>
      this.call<Page<Product>>("GET", "/api/products", { query: { ...query } }),
    get: (productId: string) =>
      this.call<Product>("GET", `/api/products/${encodeURIComponent(productId)}`),
    create: (body: ProductCreate) => this.call<Product>("POST", "/api/products", { body }),
    update: (productId: string, body: ProductUpdate) =>
      this.call<Product>("PATCH", `/api/products/${encodeURIComponent(productId)}`, { body }),
    archive: (productId: string) =>
      this.call<void>("DELETE", `/api/products/${encodeURIComponent(productId)}`),
  };

  // -- orders -------------------------------------------------------------------------------------

  readonly orders = {
    /** Place an order; the same idempotency key never places a second one. */
    place: (order: NewOrder, idempotencyKey: string) => {
      // "card" is the API's default: leaving it out keeps the body valid for an API that does
      // not know payment methods yet.
      const { payment_method, ...rest } = order;
      const body = payment_method === "card" ? rest : order;
      return this.call<OrderAccepted>("POST", "/api/orders", {
        body,
        headers: { "Idempotency-Key": idempotencyKey },
      });
    },
    get: (orderId: string) => this.call<Order>("GET", `/api/orders/${encodeURIComponent(orderId)}`),
    list: (query: OrderQuery = {}) =>
      this.call<Page<Order>>("GET", "/api/orders", { query: { ...query } }),
    cancel: (orderId: string) =>
      this.call<OrderAccepted>("POST", `/api/orders/${encodeURIComponent(orderId)}/cancel`),
    timeline: (orderId: string) =>
      this.call<TimelineStep[]>("GET", `/api/orders/${encodeURIComponent(orderId)}/timeline`),
    advanceFulfilment: (orderId: string, status: FulfilmentStatus) =>
      this.call<Order>("POST", `/api/orders/${encodeURIComponent(orderId)}/fulfilment`, {
        body: { status },
      }),
    /**
     * Follow an order live (Server-Sent Events, event `status` with the order JSON). Resolves
     * when the order reached a final state and the server closed the stream, or when `signal`
     * aborts; reconnects with backoff otherwise; rejects with ApiError when the stream cannot
     * work (403, 404).
     */
    stream: (orderId: string, handlers: OrderStreamHandlers, signal: AbortSignal) =>
      this.streamOrder(orderId, handlers, signal),
    /**
     * Staff and admins: every order's changes as they happen (the staff board). Never ends by
     * itself; `onResync` when changes may have been missed (reload what is shown). Resolves when
     * `signal` aborts; rejects with ApiError when the stream cannot work (403).
     */
    streamAll: (
      handlers: OrderStreamHandlers & { onResync: () => void },
      signal: AbortSignal,
    ): Promise<void> => this.follow("/api/orders/events", handlers, signal, false),
  };

  private streamOrder(orderId: string, handlers: OrderStreamHandlers, signal: AbortSignal): Promise<void> {
    return this.follow(`/api/orders/${encodeURIComponent(orderId)}/events`, handlers, signal, true);
  }

  /**
   * Follow a Server-Sent Events stream of orders: each `status` event is an order. An order's own
   * stream (`endsAtFinal`) is over once the server closes it after a final state; any other end
   * is a dropped connection and reconnects with backoff. Every reconnect and every `resync` event
   * calls `onResync`: changes may have been missed while the stream was away.
   */
  private async follow(
    path: string,
    { onOrder, onState, onResync }: OrderStreamHandlers & { onResync?: () => void },
    signal: AbortSignal,
    endsAtFinal: boolean,
  ): Promise<void> {
    let last: Order | null = null;
    let attempt = 0;
    let opened = false;
    onState?.("connecting");
    try {
      await fetchEventSource(this.url(path), {
        signal,
        // EventSource cannot send the Authorization header; this fetch carries it and refreshes.
        fetch: (input, init) => this.authorizedFetch(String(input), init),
        headers: { accept: EventStreamContentType },
        // A hidden tab keeps its stream: reconnecting on every tab switch would only cost.
        openWhenHidden: true,
        onopen: async (response) => {
          const type = response.headers.get("content-type") ?? "";
          if (response.ok && type.startsWith(EventStreamContentType)) {
            attempt = 0;
            if (opened) onResync?.();
            opened = true;
            onState?.("live");
            return;
          }
          const error = response.ok
            ? new ApiError(response.status, `Expected an event stream, got ${type || "no type"}`)
            : await ApiError.fromResponse(response);
          if (RETRYABLE_STATUSES.has(error.status)) throw error;
          throw new FatalStreamError(error);
        },
        onmessage: (message) => {
          if (message.event === "resync") {
            onResync?.();
            return;
          }
          if (message.event !== "status" && message.event !== "") return;
          try {
            last = JSON.parse(message.data) as Order;
          } catch {
            return; // not an order: nothing to show
          }
          onOrder(last);
        },
        onclose: () => {
          // An order's stream ends at a final state; any other end is a dropped connection.
          if (!endsAtFinal || last === null || !isFinal(last)) {
            throw new ApiError(0, "The live connection dropped");
          }
        },
        onerror: (error: unknown) => {
          if (error instanceof FatalStreamError) throw error;
          onState?.("reconnecting", error instanceof ApiError ? error : undefined);
          return streamBackoff(attempt++, this.streamRetryMs);
        },
      });
    } catch (error) {
      if (error instanceof FatalStreamError) {
        onState?.("failed", error.apiError);
        throw error.apiError;
      }
      throw error;
    }
    if (!signal.aborted) onState?.("ended");
  }

  // -- payments, notifications --------------------------------------------------------------------

  readonly payments = {
    forOrder: (orderId: string) =>
      this.call<Payment[]>("GET", "/api/payments", { query: { order_id: orderId } }),
  };

  readonly notifications = {
    list: () => this.call<Notification[]>("GET", "/api/notifications"),
  };

  // -- operators ----------------------------------------------------------------------------------

  readonly ops = {
    trace: async (orderId: string): Promise<OrderTrace> => {
      const body = await this.call<Record<string, unknown>>(
        "GET",
        `/api/ops/orders/${encodeURIComponent(orderId)}/trace`,
      );
      const messages = listOf<Record<string, unknown>>(body, "messages", "kafka_messages").map(
        (message): TraceMessage => ({
          topic: String(message.topic ?? ""),
          partition: Number(message.partition ?? 0),
          offset: Number(message.offset ?? 0),
          key: message.key == null ? null : String(message.key),
          event_type: message.event_type == null ? null : String(message.event_type),
          event_id: message.event_id == null ? null : String(message.event_id),
          headers: normaliseHeaders(message.headers),
          timestamp: (message.timestamp as string | number | null | undefined) ?? null,
        }),
      );
      return {
        order_id: String(body.order_id ?? orderId),
        correlation_id: body.correlation_id == null ? null : String(body.correlation_id),
        timeline: listOf<TimelineStep>(body, "timeline"),
        messages,
        inbox: listOf<Record<string, unknown>>(body, "inbox", "inbox_entries"),
      };
    },
    deadLetters: async (): Promise<DeadLetter[]> =>
      flattenDeadLetters(await this.call<unknown>("GET", "/api/ops/dlq")),
    replay: (topic: string, eventIds?: string[]) =>
      this.call<Replayed>("POST", "/api/ops/dlq/replay", {
        body: eventIds && eventIds.length ? { topic, event_ids: eventIds } : { topic },
      }),
  };
}
