// Keeps an order's cached state live from its Server-Sent Events stream: every `status` event
// replaces the cached order, and what depends on it (timeline, payments) is fetched again only
// when the order actually changed. No polling.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import type { StreamState } from "../api/client";
import type { ApiError } from "../api/errors";
import type { Order } from "../api/types";
import { useApi } from "../app/services";

export const orderKey = (orderId: string) => ["order", orderId] as const;
export const timelineKey = (orderId: string) => ["order", orderId, "timeline"] as const;
export const paymentsKey = (orderId: string) => ["order", orderId, "payments"] as const;

function changed(before: Order | undefined, after: Order): boolean {
  return (
    before === undefined ||
    before.status !== after.status ||
    before.payment.status !== after.payment.status ||
    before.inventory.status !== after.inventory.status ||
    before.fulfilment?.status !== after.fulfilment?.status
  );
}

export function useOrderStream(orderId: string, enabled = true): { state: StreamState; error: ApiError | null } {
  const api = useApi();
  const queryClient = useQueryClient();
  const [state, setState] = useState<StreamState>("connecting");
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    api.orders
      .stream(
        orderId,
        {
          onOrder: (order) => {
            const before = queryClient.getQueryData<Order>(orderKey(orderId));
            queryClient.setQueryData(orderKey(orderId), order);
            if (changed(before, order)) {
              void queryClient.invalidateQueries({ queryKey: timelineKey(orderId) });
              void queryClient.invalidateQueries({ queryKey: paymentsKey(orderId) });
              void queryClient.invalidateQueries({ queryKey: ["orders"] });
            }
          },
          onState: (next, problem) => {
            setState(next);
            setError(problem ?? null);
          },
        },
        controller.signal,
      )
      .catch(() => undefined); // reported through onState("failed")
    return () => controller.abort();
  }, [api, queryClient, orderId, enabled]);

  return { state, error };
}
