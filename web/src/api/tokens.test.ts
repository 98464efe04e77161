import { describe, expect, it, vi } from "vitest";

import { token } from "../test/fakeApi";
import { decodeClaims, REFRESH_TOKEN_KEY, TokenStore } from "./tokens";

describe("TokenStore", () => {
  it("keeps the access token in memory and only the refresh token in storage", () => {
    const store = new TokenStore(window.sessionStorage);
    const access = token({ roles: ["customer", "staff"] });
    store.set({ access_token: access, refresh_token: "r-1" });
    expect(store.accessToken).toBe(access);
    expect(store.claims?.roles).toEqual(["customer", "staff"]);
    expect(window.sessionStorage.getItem(REFRESH_TOKEN_KEY)).toBe("r-1");
    expect(JSON.stringify({ ...window.sessionStorage })).not.toContain(access);
    // A reloaded page: a new store finds the refresh token, not the access token.
    const reloaded = new TokenStore(window.sessionStorage);
    expect(reloaded.accessToken).toBeNull();
    expect(reloaded.refreshToken).toBe("r-1");
  });

  it("tells listeners and forgets everything on clear", () => {
    const store = new TokenStore(window.sessionStorage);
    const listener = vi.fn();
    store.subscribe(listener);
    store.set({ access_token: token(), refresh_token: "r-1" });
    store.clear();
    expect(listener).toHaveBeenCalledTimes(2);
    expect(store.refreshToken).toBeNull();
    expect(store.claims).toBeNull();
  });

  it("knows an expired access token", () => {
    const store = new TokenStore(null);
    store.set({ access_token: token({ exp: 1000 }), refresh_token: "r" });
    expect(store.accessExpired(2000)).toBe(true);
    store.set({ access_token: token({ exp: 5000 }), refresh_token: "r" });
    expect(store.accessExpired(2000)).toBe(false);
  });

  it("reads no claims from a token that is not a JWT", () => {
    expect(decodeClaims("not-a-token")).toBeNull();
  });
});
