// What every page shares: the API client, the session read from its tokens, and the query cache.
import { QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";

import { ApiClient } from "../api/client";
import { ApiError } from "../api/errors";
import { browserSessionStorage, TokenStore, type Claims } from "../api/tokens";

interface Services {
  api: ApiClient;
  tokens: TokenStore;
  /** True once the session ended because the API refused its tokens (until the next log in). */
  expired: boolean;
  setExpired: (expired: boolean) => void;
}

const ServicesContext = createContext<Services | null>(null);

/** A query cache that retries only what may succeed on a retry (not 4xx answers). */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        retry: (failures, error) =>
          failures < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
      },
      mutations: { retry: false },
    },
  });
}

export function AppServices({
  children,
  api,
  tokens,
  queryClient,
}: {
  children: ReactNode;
  api?: ApiClient;
  tokens?: TokenStore;
  queryClient?: QueryClient;
}) {
  const [expired, setExpired] = useState(false);
  const expiredRef = useRef(setExpired);
  expiredRef.current = setExpired;
  const services = useMemo(() => {
    const store = tokens ?? new TokenStore(browserSessionStorage());
    const client =
      api ?? new ApiClient({ tokens: store, onSessionExpired: () => expiredRef.current(true) });
    return { api: client, tokens: store };
  }, [api, tokens]);
  const [cache] = useState(() => queryClient ?? createQueryClient());
  const value = useMemo(() => ({ ...services, expired, setExpired }), [services, expired]);
  return (
    <ServicesContext.Provider value={value}>
      <QueryClientProvider client={cache}>
        <SessionCacheGuard />
        {children}
      </QueryClientProvider>
    </ServicesContext.Provider>
  );
}

function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside <AppServices>");
  return services;
}

/** The API client. */
export function useApi(): ApiClient {
  return useServices().api;
}

export interface SessionUser {
  id: string;
  email: string | null;
  roles: string[];
  isGuest: boolean;
}

export interface Session {
  /** "restoring" while a reloaded page trades its refresh token for an access token. */
  status: "restoring" | "ready";
  user: SessionUser | null;
  expired: boolean;
  hasRole: (...roles: string[]) => boolean;
  logout: () => Promise<void>;
}

function userOf(claims: Claims | null): SessionUser | null {
  if (!claims) return null;
  return {
    id: claims.sub,
    email: claims.email,
    roles: claims.roles,
    isGuest: claims.roles.includes("guest"),
  };
}

/** Who is logged in, from the access token's claims; re-renders on every token change. */
export function useSession(): Session {
  const { api, tokens, expired, setExpired } = useServices();
  const claims = useSyncExternalStore(
    useCallback((listener) => tokens.subscribe(listener), [tokens]),
    () => tokens.claims,
  );
  const needsRestore = claims === null && tokens.refreshToken !== null;
  const [restoring, setRestoring] = useState(needsRestore);
  useEffect(() => {
    if (!needsRestore) {
      setRestoring(false);
      return;
    }
    let active = true;
    setRestoring(true);
    api
      .refresh()
      .catch(() => false)
      .finally(() => {
        if (active) setRestoring(false);
      });
    return () => {
      active = false;
    };
  }, [api, needsRestore]);
  useEffect(() => {
    if (claims) setExpired(false);
  }, [claims, setExpired]);
  const user = useMemo(() => userOf(claims), [claims]);
  const hasRole = useCallback(
    (...roles: string[]) => user !== null && roles.some((role) => user.roles.includes(role)),
    [user],
  );
  const logout = useCallback(() => api.auth.logout(), [api]);
  return { status: restoring ? "restoring" : "ready", user, expired, hasRole, logout };
}

/** Forget every cached answer when the user changes: the next user must not see the last's. */
function SessionCacheGuard() {
  const { tokens } = useServices();
  const queryClient = useQueryClient();
  const subject = useSyncExternalStore(
    useCallback((listener) => tokens.subscribe(listener), [tokens]),
    () => tokens.claims?.sub ?? null,
  );
  const previous = useRef(subject);
  useEffect(() => {
    if (previous.current !== subject) {
      // A guest that registered keeps its id and its data; anyone else starts afresh.
      if (previous.current !== null) queryClient.removeQueries();
      previous.current = subject;
    }
  }, [subject, queryClient]);
  return null;
}
