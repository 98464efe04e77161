import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { useApi, useSession } from "../app/services";
import { ErrorMessage, Notice, TextField, useTitle } from "../components/ui";

/** Where to go after logging in: a path of this app only (never another origin). */
export function safeNext(next: string | null, fallback = "/"): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}

/** "Continue as guest": an anonymous customer that can order and follow its orders. */
export function ContinueAsGuest({ next }: { next: string }) {
  const api = useApi();
  const navigate = useNavigate();
  const guest = useMutation({
    mutationFn: () => api.auth.guest(),
    onSuccess: () => navigate(next),
  });
  return (
    <div className="guest-box">
      <button
        type="button"
        className="secondary"
        data-testid="continue-as-guest"
        onClick={() => guest.mutate()}
        disabled={guest.isPending}
      >
        {guest.isPending ? "Starting…" : "Continue as guest"}
      </button>
      <p className="field-hint">No account needed; you can register later and keep your orders.</p>
      <ErrorMessage error={guest.error} />
    </div>
  );
}

export function LoginPage() {
  useTitle("Log in");
  const api = useApi();
  const session = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const login = useMutation({
    mutationFn: () => api.auth.login(email.trim(), password),
    onSuccess: () => navigate(next),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate();
  };
  return (
    <section className="narrow">
      <h1>Log in</h1>
      {session.expired && <Notice>Your session ended; please log in again.</Notice>}
      {session.user && !session.user.isGuest && (
        <Notice>You are logged in{session.user.email ? ` as ${session.user.email}` : ""}.</Notice>
      )}
      <form onSubmit={onSubmit} noValidate>
        <ErrorMessage error={login.error} />
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          error={login.error}
          data-testid="login-email"
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={login.error}
          data-testid="login-password"
        />
        <button type="submit" data-testid="login-submit" disabled={login.isPending}>
          {login.isPending ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        No account? <Link to={`/register?next=${encodeURIComponent(next)}`}>Register</Link>
      </p>
      {!session.user && (
        <>
          <h2>Or order without an account</h2>
          <ContinueAsGuest next={next} />
        </>
      )}
    </section>
  );
}
