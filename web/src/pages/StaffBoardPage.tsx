// The kitchen's board: confirmed orders by fulfilment step, one click to move an order on.
// Live from GET /api/orders/events (every order's changes, staff only): each change moves its card
// to the column of its step, a newly confirmed order appears, a cancelled one leaves. The columns
// are read again only when the stream says changes may have been missed (a reconnect or a
// `resync` event). No polling.
import { useMutation, useQueries, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link } from "react-router";

import type { StreamState } from "../api/client";

import {
  FULFILMENT_STEPS,
  nextFulfilment,
  type FulfilmentStatus,
  type Order,
} from "../api/types";
import { useApi } from "../app/services";
import { Empty, ErrorMessage, Loading, useTitle } from "../components/ui";
import { formatMoney, formatTime, humanize, shortId } from "../format";

const COLUMN_SIZE = 50;
const boardKey = (step: FulfilmentStatus) => ["orders", "board", step] as const;

type Column = { items: Order[]; total: number };

const LIVE_LABELS: Record<StreamState, string> = {
  connecting: "Connecting to live updates…",
  live: "Live: orders move here as they change.",
  reconnecting: "Connection lost; reconnecting…",
  ended: "Live updates ended.",
  failed: "Live updates are not available.",
};

const NEXT_LABEL: Record<FulfilmentStatus, string> = {
  NOT_STARTED: "",
  PREPARING: "Start preparing",
  SHIPPED: "Mark shipped",
  DELIVERED: "Mark delivered",
};

/** An order's fulfilment step; a confirmed order without one has not started. */
export function fulfilmentOf(order: Order): FulfilmentStatus {
  return order.fulfilment?.status ?? "NOT_STARTED";
}

/** Put an order where it now belongs: the column of its step if confirmed, off the board if not. */
export function placeOnBoard(queryClient: QueryClient, order: Order): void {
  const target = order.status === "CONFIRMED" ? fulfilmentOf(order) : null;
  for (const step of FULFILMENT_STEPS) {
    queryClient.setQueryData<Column>(boardKey(step), (column) => {
      if (!column) return column;
      const present = column.items.some((item) => item.order_id === order.order_id);
      const others = column.items.filter((item) => item.order_id !== order.order_id);
      if (step === target) {
        // Newest first, at most a page: a board left open all day stays as long as when opened
        // (the heading still counts them all).
        const items = [order, ...others].slice(0, COLUMN_SIZE);
        return { ...column, items, total: column.total + (present ? 0 : 1) };
      }
      return present ? { ...column, items: others, total: Math.max(0, column.total - 1) } : column;
    });
  }
  queryClient.setQueryData(["order", order.order_id], order);
}

/** Follow every order's changes into the board's columns while the board is on screen. */
function useBoardStream(): StreamState {
  const api = useApi();
  const queryClient = useQueryClient();
  const [state, setState] = useState<StreamState>("connecting");
  useEffect(() => {
    const controller = new AbortController();
    api.orders
      .streamAll(
        {
          onOrder: (order) => placeOnBoard(queryClient, order),
          onResync: () => void queryClient.invalidateQueries({ queryKey: ["orders", "board"] }),
          onState: setState,
        },
        controller.signal,
      )
      .catch(() => undefined); // reported through onState("failed")
    return () => controller.abort();
  }, [api, queryClient]);
  return state;
}

export function StaffBoardPage() {
  useTitle("Staff board");
  const api = useApi();
  const queryClient = useQueryClient();
  const live = useBoardStream();
  const columns = useQueries({
    queries: FULFILMENT_STEPS.map((step) => ({
      queryKey: boardKey(step),
      queryFn: () => api.orders.list({ status: "CONFIRMED", fulfilment: step, size: COLUMN_SIZE }),
    })),
  });
  return (
    <section>
      <h1>Staff board</h1>
      <div className="stream-line">
        <p className="stream-state muted" role="status" aria-live="polite">
          Confirmed orders by delivery step. {LIVE_LABELS[live]}
        </p>
        {live === "failed" && (
          <button
            type="button"
            className="secondary"
            onClick={() => void queryClient.invalidateQueries({ queryKey: ["orders", "board"] })}
          >
            Check for changes
          </button>
        )}
      </div>
      <div className="board">
        {FULFILMENT_STEPS.map((step, index) => {
          const column = columns[index];
          // Each column shows only orders at its step, whatever else the API returned.
          const orders = column?.data?.items.filter((order) => fulfilmentOf(order) === step) ?? [];
          // When the API filtered the column, its total may be more than one page shows.
          const total =
            column?.data && orders.length === column.data.items.length ? column.data.total : orders.length;
          const headingId = `board-${step}`;
          return (
            <section key={step} className="board-column" aria-labelledby={headingId}>
              <h2 id={headingId}>
                {humanize(step)}{" "}
                <span className="muted">
                  ({total > orders.length ? `${orders.length} of ${total}` : orders.length})
                </span>
              </h2>
              {!column || column.isPending ? (
                <Loading />
              ) : column.isError ? (
                <ErrorMessage error={column.error} />
              ) : orders.length === 0 ? (
                <Empty>None.</Empty>
              ) : (
                <ul className="board-list">
                  {orders.map((order) => (
                    <BoardCard key={order.order_id} order={order} />
                  ))}
                </ul>
              )}
            </section>
          );
        })}
      </div>
    </section>
  );
}

function BoardCard({ order }: { order: Order }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const step = fulfilmentOf(order);
  const next = nextFulfilment(step);
  const advance = useMutation({
    mutationFn: (status: FulfilmentStatus) => api.orders.advanceFulfilment(order.order_id, status),
    // Move the card at once from the API's answer; the stream brings the same change too.
    onSuccess: (updated) => placeOnBoard(queryClient, updated),
  });
  return (
    <li className="card board-card">
      <p>
        <Link to={`/orders/${order.order_id}`}>Order {shortId(order.order_id)}</Link>
      </p>
      <p className="muted">
        {formatMoney(order.total, order.currency)} · {order.items.reduce((sum, item) => sum + item.quantity, 0)}{" "}
        items · {formatTime(order.created_at)}
      </p>
      {order.delivery_address && (
        <p className="muted">
          {order.delivery_address.city}, {order.delivery_address.state}
        </p>
      )}
      {next && (
        <button
          type="button"
          data-testid="fulfilment-next"
          onClick={() => advance.mutate(next)}
          disabled={advance.isPending}
          aria-label={`${NEXT_LABEL[next]}: order ${shortId(order.order_id)}`}
        >
          {advance.isPending ? "Saving…" : NEXT_LABEL[next]}
        </button>
      )}
      <ErrorMessage error={advance.error} />
    </li>
  );
}
