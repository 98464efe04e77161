import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";

import { ORDER_STATUSES, type OrderStatus } from "../api/types";
import { useApi } from "../app/services";
import { Empty, ErrorMessage, Loading, Pager, StatusBadge, useTitle } from "../components/ui";
import { formatMoney, formatTime, humanize, shortId } from "../format";

const PAGE_SIZE = 10;

export function OrdersPage() {
  useTitle("My orders");
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const statusParam = params.get("status");
  const status = ORDER_STATUSES.includes(statusParam as OrderStatus) ? (statusParam as OrderStatus) : undefined;
  const orders = useQuery({
    queryKey: ["orders", { page, status }],
    queryFn: () => api.orders.list({ page, size: PAGE_SIZE, status }),
    placeholderData: keepPreviousData,
  });
  const setFilter = (next: Record<string, string | null>) => {
    const search = new URLSearchParams(params);
    for (const [name, value] of Object.entries(next)) {
      if (value) search.set(name, value);
      else search.delete(name);
    }
    setParams(search);
  };

  return (
    <section>
      <h1>My orders</h1>
      <div className="inline-form">
        <label htmlFor="order-status-filter">Status</label>
        <select
          id="order-status-filter"
          value={status ?? ""}
          onChange={(event) => setFilter({ status: event.target.value || null, page: null })}
        >
          <option value="">All</option>
          {ORDER_STATUSES.map((item) => (
            <option key={item} value={item}>
              {humanize(item)}
            </option>
          ))}
        </select>
      </div>
      {orders.isPending ? (
        <Loading label="Loading your orders…" />
      ) : orders.isError ? (
        <ErrorMessage error={orders.error} />
      ) : orders.data.items.length === 0 ? (
        <Empty>
          No orders {status ? "with this status" : "yet"}. <Link to="/">Browse the catalog</Link>.
        </Empty>
      ) : (
        <>
          <table className="table table-stack">
            <caption className="visually-hidden">Your orders, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Status</th>
                <th scope="col">Total</th>
                <th scope="col">Placed</th>
              </tr>
            </thead>
            <tbody>
              {orders.data.items.map((order) => (
                <tr key={order.order_id} data-testid="order-row">
                  <th scope="row">
                    <Link to={`/orders/${order.order_id}`}>Order {shortId(order.order_id)}</Link>
                  </th>
                  <td>
                    <StatusBadge status={order.status} />
                    {order.fulfilment && order.status === "CONFIRMED" && (
                      <span className="muted"> · {humanize(order.fulfilment.status)}</span>
                    )}
                  </td>
                  <td>{formatMoney(order.total, order.currency)}</td>
                  <td>{formatTime(order.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            page={orders.data.page}
            size={orders.data.size}
            total={orders.data.total}
            onPage={(next) => setFilter({ page: String(next) })}
            label="Order pages"
          />
        </>
      )}
    </section>
  );
}
