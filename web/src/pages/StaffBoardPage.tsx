// The kitchen's board: confirmed orders by fulfilment step, one click to move an order on.
// The API has no stream of all orders, so the board re-reads its columns every few seconds while
// it is on screen; each move shows at once from the API's answer.
import { useMutation, useQueries, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";

import {
  FULFILMENT_STEPS,
  nextFulfilment,
  type FulfilmentStatus,
  type Order,
} from "../api/types";
import { useApi } from "../app/services";
import { Empty, ErrorMessage, Loading, useTitle } from "../components/ui";
import { formatMoney, formatTime, humanize, shortId } from "../format";

export const BOARD_REFRESH_MS = 5000;
const COLUMN_SIZE = 50;

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

export function StaffBoardPage() {
  useTitle("Staff board");
  const api = useApi();
  const columns = useQueries({
    queries: FULFILMENT_STEPS.map((step) => ({
      queryKey: ["orders", "board", step],
      queryFn: () => api.orders.list({ status: "CONFIRMED", fulfilment: step, size: COLUMN_SIZE }),
      refetchInterval: BOARD_REFRESH_MS,
    })),
  });
  return (
    <section>
      <h1>Staff board</h1>
      <p className="muted">Confirmed orders by delivery step; the board refreshes itself.</p>
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
    onSuccess: (updated) => {
      // Move the card at once; the next refresh confirms it.
      for (const column of FULFILMENT_STEPS) {
        queryClient.setQueryData<{ items: Order[] }>(["orders", "board", column], (page) =>
          page
            ? {
                ...page,
                items:
                  column === fulfilmentOf(updated)
                    ? [updated, ...page.items.filter((item) => item.order_id !== updated.order_id)]
                    : page.items.filter((item) => item.order_id !== updated.order_id),
              }
            : page,
        );
      }
      void queryClient.invalidateQueries({ queryKey: ["orders", "board"] });
      queryClient.setQueryData(["order", updated.order_id], updated);
    },
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
