// Renders the whole app (router, session, cart, query cache) on a path, against a fake fetch.
import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router";

import { ApiClient } from "../api/client";
import { TokenStore } from "../api/tokens";
import { App } from "../app/App";
import { AppServices, createQueryClient } from "../app/services";

export function renderApp(
  path: string,
  { fetch, session }: { fetch: typeof globalThis.fetch; session?: { access_token: string; refresh_token: string } },
) {
  const tokens = new TokenStore(window.sessionStorage);
  if (session) tokens.set(session);
  const api = new ApiClient({ tokens, fetch, streamRetryMs: 10 });
  const queryClient = createQueryClient();
  queryClient.setDefaultOptions({ queries: { retry: false, staleTime: 0 } });
  const view = render(
    <AppServices api={api} tokens={tokens} queryClient={queryClient}>
      <MemoryRouter initialEntries={[path]}>
        <App />
      </MemoryRouter>
    </AppServices>,
  );
  return { ...view, tokens, api, queryClient };
}
