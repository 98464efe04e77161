// One order, live: its status, fulfilment, payment (with the pix QR while it waits), timeline and
// a cancel button while the API still allows it.
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";

import { ApiError } from "../api/errors";
import { isCancellable, isFinal, type Order, type Payment } from "../api/types";
import { useApi, useSession } from "../app/services";
import { Empty, ErrorMessage, Loading, Notice, StatusBadge, useTitle } from "../components/ui";
import { formatMoney, formatTime, humanize, shortId } from "../format";
import { orderKey, paymentsKey, timelineKey, useOrderStream } from "../orders/useOrderStream";

const STREAM_LABELS = {
  connecting: "Connecting to live updates…",
  live: "Live: this page follows the order as it changes.",
  reconnecting: "Connection lost; reconnecting…",
  ended: "The order is complete.",
  failed: "Live updates are not available for this order.",
} as const;

/** How often an open pix order without its code reads its payment again (see the payments query). */
export const PIX_CODE_REREAD_MS = 3_000;

/** A pix order still open whose QR code the payment service has not shown yet. */
export function awaitingPixCode(order: Order, payments: Payment[] | undefined): boolean {
  if (order.payment_method !== "pix" || isFinal(order) || order.status === "CONFIRMED") return false;
  return !payments?.some((payment) => payment.qr_code || payment.status !== "PENDING");
}

export function OrderPage() {
  const { orderId = "" } = useParams();
  useTitle(`Order ${shortId(orderId)}`);
  const api = useApi();
  const session = useSession();
  const queryClient = useQueryClient();
  const order = useQuery({ queryKey: orderKey(orderId), queryFn: () => api.orders.get(orderId) });
  const live = useOrderStream(orderId, order.isSuccess && !isFinal(order.data));
  const timeline = useQuery({
    queryKey: timelineKey(orderId),
    queryFn: () => api.orders.timeline(orderId),
    enabled: order.isSuccess,
  });
  const payments = useQuery({
    queryKey: paymentsKey(orderId),
    queryFn: () => api.payments.forOrder(orderId),
    enabled: order.isSuccess,
    // Read again when the order's stream says its payment changed (useOrderStream): the pix
    // charge and its QR code are recorded in the transaction that emits payment.awaiting, after
    // which the order's payment status is AWAITING_PAYMENT. And, only while an open pix order
    // still has no code to show, every PIX_CODE_REREAD_MS as well: twice in one CI run the page
    // showed no code for 60 s (in the run examined, it read the payments 10 ms before the charge
    // existed and no change reached it afterwards), so the customer had no code to pay with.
    refetchInterval: (query) =>
      order.data && awaitingPixCode(order.data, query.state.data) ? PIX_CODE_REREAD_MS : false,
  });
  const cancel = useMutation({
    mutationFn: () => api.orders.cancel(orderId),
    onSettled: () => {
      void order.refetch();
      void queryClient.invalidateQueries({ queryKey: ["orders"] });
    },
  });

  if (order.isPending) return <Loading label="Loading the order…" />;
  if (order.isError) {
    const missing = order.error instanceof ApiError && order.error.status === 404;
    return (
      <section>
        <h1>Order {shortId(orderId)}</h1>
        {missing ? <p>There is no such order in your account.</p> : <ErrorMessage error={order.error} />}
        <p>
          <Link to="/orders">All my orders</Link>
        </p>
      </section>
    );
  }
  const current = order.data;
  const payment = payments.data?.find((item) => item.order_id === current.order_id) ?? payments.data?.[0];
  const streamLabel = isFinal(current) ? STREAM_LABELS.ended : STREAM_LABELS[live.state];

  return (
    <section className="order-page">
      <p>
        <Link to="/orders">← My orders</Link>
      </p>
      <h1>Order {shortId(current.order_id)}</h1>
      <div className="stream-line">
        <p className="stream-state" role="status" aria-live="polite">
          {streamLabel}
        </p>
        {live.state === "failed" && !isFinal(current) && (
          <button type="button" className="secondary" onClick={() => order.refetch()} disabled={order.isFetching}>
            Check for changes
          </button>
        )}
      </div>
      {session.user?.isGuest && (
        <Notice>
          You are ordering as a guest: <Link to="/register">register</Link> to keep this order after you
          close this tab.
        </Notice>
      )}
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={current.status} testId="order-status" />
        </dd>
        {current.fulfilment && (
          <>
            <dt>Delivery</dt>
            <dd>
              <StatusBadge status={current.fulfilment.status} testId="fulfilment-status" />
            </dd>
          </>
        )}
        <dt>Payment</dt>
        <dd>
          {humanize(current.payment.status)}
          {current.payment_method ? ` (${current.payment_method})` : ""}
        </dd>
        <dt>Stock</dt>
        <dd>{humanize(current.inventory.status)}</dd>
        <dt>Total</dt>
        <dd className="price">{formatMoney(current.total, current.currency)}</dd>
        <dt>Placed</dt>
        <dd>{formatTime(current.created_at)}</dd>
        {current.failure_reason && (
          <>
            <dt>Reason</dt>
            <dd>{current.failure_reason}</dd>
          </>
        )}
        {current.delivery_address && (
          <>
            <dt>Deliver to</dt>
            <dd>
              {current.delivery_address.street} {current.delivery_address.number},{" "}
              {current.delivery_address.zipcode} {current.delivery_address.city},{" "}
              {current.delivery_address.state}, {current.delivery_address.country}
            </dd>
          </>
        )}
      </dl>

      {payment && <PixPayment payment={payment} order={current} />}
      {awaitingPixCode(current, payments.data) && (
        <p className="muted" role="status">
          Preparing the pix code…
        </p>
      )}

      {isCancellable(current) && (
        <div className="actions">
          <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
            {cancel.isPending ? "Cancelling…" : "Cancel order"}
          </button>
        </div>
      )}
      <ErrorMessage error={cancel.error} title="The order was not cancelled." />
      {cancel.isSuccess && <Notice>Cancellation requested.</Notice>}

      <h2>Items</h2>
      <OrderItems order={current} />

      <h2>Timeline</h2>
      {timeline.isPending ? (
        <Loading label="Loading the timeline…" />
      ) : timeline.isError ? (
        <ErrorMessage error={timeline.error} />
      ) : timeline.data.length === 0 ? (
        <Empty>Nothing has happened yet.</Empty>
      ) : (
        <ol className="timeline">
          {timeline.data.map((step, index) => (
            <li key={`${step.event_type}-${index}`}>
              <span className="timeline-step">{humanize(step.step)}</span>{" "}
              <span className="muted">
                {step.service} · {formatTime(step.at)}
              </span>
            </li>
          ))}
        </ol>
      )}
      {session.hasRole("admin") && (
        <p>
          <Link to={`/admin/trace/${current.order_id}`}>Trace this order</Link>
        </p>
      )}
    </section>
  );
}

function OrderItems({ order }: { order: Order }) {
  const api = useApi();
  const products = useQueries({
    queries: order.items.map((item) => ({
      queryKey: ["product", item.product_id],
      queryFn: () => api.products.get(item.product_id),
      retry: false,
      staleTime: 60_000,
    })),
  });
  return (
    <ul className="summary">
      {order.items.map((item, index) => (
        <li key={item.product_id}>
          {item.quantity} × {products[index]?.data?.name ?? `product ${shortId(item.product_id)}`}{" "}
          <span className="price">{formatMoney(item.unit_price, order.currency)}</span>
        </li>
      ))}
    </ul>
  );
}

/** A pix payment waiting for the customer: the QR code and the "copia e cola" text. */
export function PixPayment({ payment, order }: { payment: Payment; order: Order }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  if (payment.status !== "AWAITING_PAYMENT" || !payment.qr_code) {
    return null;
  }
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(payment.qr_code ?? "");
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  };
  return (
    <div className="pix">
      <h2>Pay with pix</h2>
      <p>
        Scan the code in your bank app, or copy the pix code. {formatMoney(payment.amount, payment.currency)}
        {payment.expires_at ? `, before ${formatTime(payment.expires_at)}` : ""}.
      </p>
      {payment.qr_code_png && (
        <img
          className="pix-qr"
          data-testid="pix-qr"
          src={payment.qr_code_png}
          alt={`Pix QR code for order ${shortId(order.order_id)}`}
          width={240}
          height={240}
        />
      )}
      <label htmlFor="pix-copia-e-cola">Pix copia e cola</label>
      <textarea id="pix-copia-e-cola" readOnly value={payment.qr_code} rows={3} onFocus={(event) => event.currentTarget.select()} />
      <button type="button" onClick={copy}>
        Copy the pix code
      </button>
      <span role="status" className="copy-state">
        {copied === "yes" ? "Copied." : copied === "no" ? "Copy failed: select the text and copy it." : ""}
      </span>
    </div>
  );
}
