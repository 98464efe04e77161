// Dead letters by topic, with replay of the chosen ones (or of a whole topic) back onto the
// original topic; the consumers' inbox keeps a replay of an applied event harmless.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import type { DeadLetter } from "../../api/types";
import { useApi } from "../../app/services";
import { Empty, ErrorMessage, Loading, Notice, useTitle } from "../../components/ui";
import { formatTime } from "../../format";
import { AdminNav } from "./AdminHomePage";

/** Dead letters grouped by their topic, topics in name order. */
export function byTopic(letters: DeadLetter[]): [string, DeadLetter[]][] {
  const groups = new Map<string, DeadLetter[]>();
  for (const letter of letters) groups.set(letter.topic, [...(groups.get(letter.topic) ?? []), letter]);
  return [...groups].sort(([a], [b]) => a.localeCompare(b));
}

export function AdminDlqPage() {
  useTitle("Dead letters");
  const api = useApi();
  const letters = useQuery({ queryKey: ["dlq"], queryFn: () => api.ops.deadLetters() });
  return (
    <section>
      <AdminNav />
      <h1>Dead letters</h1>
      <button type="button" className="secondary" onClick={() => letters.refetch()} disabled={letters.isFetching}>
        {letters.isFetching ? "Reading…" : "Read again"}
      </button>
      {letters.isPending ? (
        <Loading />
      ) : letters.isError ? (
        <ErrorMessage error={letters.error} />
      ) : letters.data.length === 0 ? (
        <Empty>No dead letters: every message was applied.</Empty>
      ) : (
        byTopic(letters.data).map(([topic, items]) => <TopicLetters key={topic} topic={topic} letters={items} />)
      )}
    </section>
  );
}

function TopicLetters({ topic, letters }: { topic: string; letters: DeadLetter[] }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [chosen, setChosen] = useState<string[]>([]);
  const replay = useMutation({
    mutationFn: (eventIds: string[] | undefined) => api.ops.replay(topic, eventIds),
    onSuccess: () => {
      setChosen([]);
      void queryClient.invalidateQueries({ queryKey: ["dlq"] });
    },
  });
  const headingId = `dlq-${topic}`;
  return (
    <section aria-labelledby={headingId} className="card">
      <h2 id={headingId}>
        {topic} <span className="muted">({letters.length})</span>
      </h2>
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`Dead letters of ${topic}`}>
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Replay</th>
              <th scope="col">Event</th>
              <th scope="col">Error</th>
              <th scope="col">Attempts</th>
              <th scope="col">Dead since</th>
              <th scope="col">Partition / offset</th>
            </tr>
          </thead>
          <tbody>
            {letters.map((letter) => {
              const id = letter.event_id ?? "";
              const checkbox = `dlq-${topic}-${letter.partition}-${letter.offset}`;
              return (
                <tr key={`${letter.partition}-${letter.offset}`}>
                  <td>
                    <input
                      type="checkbox"
                      id={checkbox}
                      disabled={!id}
                      checked={chosen.includes(id)}
                      onChange={(event) =>
                        setChosen(event.target.checked ? [...chosen, id] : chosen.filter((item) => item !== id))
                      }
                    />
                    <label htmlFor={checkbox} className="visually-hidden">
                      Replay {letter.event_type ?? "event"} {id}
                    </label>
                  </td>
                  <td>
                    {letter.event_type ?? "—"}
                    <br />
                    <code className="muted">{id || "—"}</code>
                  </td>
                  <td>
                    {letter.error_type && <strong>{letter.error_type}: </strong>}
                    {letter.error ?? ""}
                  </td>
                  <td>{letter.attempts ?? "—"}</td>
                  <td>{formatTime(letter.dead_at)}</td>
                  <td>
                    {letter.partition} / {letter.offset}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <div className="actions">
        <button type="button" onClick={() => replay.mutate(chosen)} disabled={chosen.length === 0 || replay.isPending}>
          Replay {chosen.length} chosen
        </button>
        <button type="button" className="secondary" onClick={() => replay.mutate(undefined)} disabled={replay.isPending}>
          Replay all of {topic}
        </button>
      </div>
      <ErrorMessage error={replay.error} title="Not replayed." />
      {replay.isSuccess && <Notice tone="success">Replayed {replay.data.replayed} message(s).</Notice>}
    </section>
  );
}
