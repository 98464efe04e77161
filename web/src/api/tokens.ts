// Where the tokens live (web/README.md says why): the access token only in memory, the refresh
// token in the tab's sessionStorage so a reload of the page keeps the session, and closing the tab
// ends it. The strict Content-Security-Policy the gateway sends is what keeps scripts of others
// out of the page that could read either.
import { jwtDecode } from "jwt-decode";

import type { TokenPair } from "./types";

/** What the web app reads from the access token (it never verifies it: the API does). */
export interface Claims {
  sub: string;
  roles: string[];
  email: string | null;
  exp: number | null;
}

export const REFRESH_TOKEN_KEY = "order-platform.refresh-token";

/** Claims of an access token, or null when it cannot be read. */
export function decodeClaims(token: string): Claims | null {
  try {
    const payload = jwtDecode<Record<string, unknown>>(token);
    if (typeof payload.sub !== "string") return null;
    const roles = Array.isArray(payload.roles) ? payload.roles.map(String) : [];
    return {
      sub: payload.sub,
      roles,
      email: typeof payload.email === "string" ? payload.email : null,
      exp: typeof payload.exp === "number" ? payload.exp : null,
    };
  } catch {
    return null;
  }
}

type Listener = () => void;

/** The session's tokens; listeners hear every change (log in, refresh, log out). */
export class TokenStore {
  private access: string | null = null;
  private accessClaims: Claims | null = null;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null) {}

  get accessToken(): string | null {
    return this.access;
  }

  get refreshToken(): string | null {
    try {
      return this.storage?.getItem(REFRESH_TOKEN_KEY) ?? null;
    } catch {
      return null;
    }
  }

  get claims(): Claims | null {
    return this.accessClaims;
  }

  /** True when the access token's exp is past (with a margin for clock skew and latency). */
  accessExpired(nowSeconds: number = Date.now() / 1000, marginSeconds = 10): boolean {
    const exp = this.accessClaims?.exp;
    return exp !== null && exp !== undefined && exp - marginSeconds <= nowSeconds;
  }

  set(pair: Pick<TokenPair, "access_token" | "refresh_token">): void {
    this.access = pair.access_token;
    this.accessClaims = decodeClaims(pair.access_token);
    try {
      this.storage?.setItem(REFRESH_TOKEN_KEY, pair.refresh_token);
    } catch {
      // Storage refused (private mode, quota): the session lasts until the page reloads.
    }
    this.emit();
  }

  clear(): void {
    const had = this.access !== null || this.refreshToken !== null;
    this.access = null;
    this.accessClaims = null;
    try {
      this.storage?.removeItem(REFRESH_TOKEN_KEY);
    } catch {
      // nothing stored to remove
    }
    if (had) this.emit();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

/** The tab's sessionStorage, or null where there is none. */
export function browserSessionStorage(): Storage | null {
  try {
    return typeof window !== "undefined" ? window.sessionStorage : null;
  } catch {
    return null;
  }
}
