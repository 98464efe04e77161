import { useQuery } from "@tanstack/react-query";

import { useApi } from "../app/services";
import { Empty, ErrorMessage, Loading, useTitle } from "../components/ui";
import { formatTime, humanize } from "../format";

export function NotificationsPage() {
  useTitle("Notifications");
  const api = useApi();
  const notifications = useQuery({ queryKey: ["notifications"], queryFn: () => api.notifications.list() });
  return (
    <section>
      <h1>Notifications</h1>
      {notifications.isPending ? (
        <Loading label="Loading notifications…" />
      ) : notifications.isError ? (
        <ErrorMessage error={notifications.error} />
      ) : notifications.data.length === 0 ? (
        <Empty>No notifications yet.</Empty>
      ) : (
        <ul className="notifications">
          {notifications.data.map((item) => (
            <li key={item.notification_id} className="card">
              <p className="notification-subject">{item.subject}</p>
              <p className="muted">
                {humanize(item.kind)} · {item.channel} · {humanize(item.status)} ·{" "}
                {formatTime(item.sent_at ?? item.created_at)}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
