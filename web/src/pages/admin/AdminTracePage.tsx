// An order's trace for operators: its correlation id, its saga timeline, every Kafka message of
// the order with its headers, and the inbox entries those messages left in each service.
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";

import { ApiError } from "../../api/errors";
import { useApi } from "../../app/services";
import { Empty, ErrorMessage, Loading, useTitle } from "../../components/ui";
import { formatTime, humanize, shortId } from "../../format";
import { AdminNav } from "./AdminHomePage";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function TraceForm({ initial = "" }: { initial?: string }) {
  const navigate = useNavigate();
  const [orderId, setOrderId] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const id = orderId.trim();
    if (!UUID.test(id)) {
      setProblem("An order id is a UUID, e.g. 3f2b6c1e-0d1a-4c53-9b7e-2a1f0c9d8e7b.");
      return;
    }
    setProblem(null);
    navigate(`/admin/trace/${id}`);
  };
  return (
    <form onSubmit={onSubmit} className="search-form" noValidate>
      <label htmlFor="trace-order-id">Order id</label>
      <input
        id="trace-order-id"
        value={orderId}
        onChange={(event) => setOrderId(event.target.value)}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? "trace-order-id-error" : undefined}
      />
      <button type="submit">Trace</button>
      {problem && (
        <p className="field-error" id="trace-order-id-error">
          {problem}
        </p>
      )}
    </form>
  );
}

export function AdminTracePage() {
  const { orderId } = useParams();
  useTitle(orderId ? `Trace ${shortId(orderId)}` : "Trace an order");
  return (
    <section>
      <AdminNav />
      <h1>{orderId ? `Trace of order ${shortId(orderId)}` : "Trace an order"}</h1>
      <TraceForm key={orderId} initial={orderId} />
      {orderId && <Trace orderId={orderId} />}
    </section>
  );
}

function Trace({ orderId }: { orderId: string }) {
  const api = useApi();
  const trace = useQuery({ queryKey: ["trace", orderId], queryFn: () => api.ops.trace(orderId) });
  if (trace.isPending) return <Loading label="Reading the order's messages…" />;
  if (trace.isError) {
    if (trace.error instanceof ApiError && trace.error.status === 404) {
      return <p>No trace for this order ({trace.error.message}).</p>;
    }
    return <ErrorMessage error={trace.error} />;
  }
  const { correlation_id, timeline, messages, inbox } = trace.data;
  const inboxColumns = [...new Set(inbox.flatMap((entry) => Object.keys(entry)))];
  return (
    <>
      <dl className="facts">
        <dt>Order</dt>
        <dd>
          <Link to={`/orders/${orderId}`}>{orderId}</Link>
        </dd>
        <dt>Correlation id</dt>
        <dd>
          <code>{correlation_id ?? "—"}</code>
        </dd>
      </dl>
      <button type="button" className="secondary" onClick={() => trace.refetch()}>
        Read again
      </button>

      <h2>Timeline</h2>
      {timeline.length === 0 ? (
        <Empty>No steps.</Empty>
      ) : (
        <ol className="timeline">
          {timeline.map((step, index) => (
            <li key={`${step.event_type}-${index}`}>
              <span className="timeline-step">{humanize(step.step)}</span>{" "}
              <span className="muted">
                {step.event_type} · {step.service} · {formatTime(step.at)}
              </span>
            </li>
          ))}
        </ol>
      )}

      <h2>Kafka messages ({messages.length})</h2>
      {messages.length === 0 ? (
        <Empty>No messages found for this order.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Kafka messages">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Topic / partition / offset</th>
                <th scope="col">Event</th>
                <th scope="col">Key</th>
                <th scope="col">Time</th>
                <th scope="col">Headers</th>
              </tr>
            </thead>
            <tbody>
              {messages.map((message) => (
                <tr key={`${message.topic}-${message.partition}-${message.offset}`} data-testid="trace-message">
                  <td>
                    <code>
                      {message.topic} / {message.partition} / {message.offset}
                    </code>
                  </td>
                  <td>
                    {message.event_type ?? "—"}
                    <br />
                    <code className="muted">{message.event_id ?? ""}</code>
                  </td>
                  <td>
                    <code>{message.key ?? "—"}</code>
                  </td>
                  <td>{formatTime(message.timestamp)}</td>
                  <td>
                    <details>
                      <summary>{message.headers.length} headers</summary>
                      <dl className="headers">
                        {message.headers.map(([name, value], index) => (
                          <div key={`${name}-${index}`}>
                            <dt>{name}</dt>
                            <dd>
                              <code>{value}</code>
                            </dd>
                          </div>
                        ))}
                      </dl>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Inbox entries ({inbox.length})</h2>
      {inbox.length === 0 ? (
        <Empty>No service has recorded these events yet.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Inbox entries">
          <table className="table">
            <thead>
              <tr>
                {inboxColumns.map((column) => (
                  <th scope="col" key={column}>
                    {humanize(column)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {inbox.map((entry, index) => (
                <tr key={index}>
                  {inboxColumns.map((column) => (
                    <td key={column}>{cell(column, entry[column])}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function cell(column: string, value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (column.endsWith("_at") && typeof value === "string") return formatTime(value);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
