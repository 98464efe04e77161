import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { useApi, useSession } from "../app/services";
import { ErrorMessage, Notice, TextField, useTitle } from "../components/ui";
import { safeNext } from "./LoginPage";

export function RegisterPage() {
  useTitle("Register");
  const api = useApi();
  const session = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"), "/account");
  const [fullName, setFullName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const register = useMutation({
    // With a guest's session the API turns that guest into this customer (same id, its
    // orders kept); then the new credentials give a customer's token.
    mutationFn: async () => {
      await api.auth.register({ email: email.trim(), password, full_name: fullName.trim() });
      await api.auth.login(email.trim(), password);
    },
    onSuccess: () => navigate(next),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    register.mutate();
  };

  if (session.user && !session.user.isGuest) {
    return (
      <section className="narrow">
        <h1>Register</h1>
        <p>
          You are logged in. Log out first to register another account, or go to{" "}
          <Link to="/account">your account</Link>.
        </p>
      </section>
    );
  }
  return (
    <section className="narrow">
      <h1>Register</h1>
      {session.user?.isGuest && (
        <Notice>You are ordering as a guest: your orders stay with the account you create.</Notice>
      )}
      <form onSubmit={onSubmit} noValidate>
        <ErrorMessage error={register.error} />
        <TextField
          label="Full name"
          name="full_name"
          autoComplete="name"
          required
          value={fullName}
          onChange={(event) => setFullName(event.target.value)}
          error={register.error}
        />
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          error={register.error}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          hint="At least 8 characters with letters and digits; not a common password."
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={register.error}
        />
        <button type="submit" disabled={register.isPending}>
          {register.isPending ? "Registering…" : "Register"}
        </button>
      </form>
      <p>
        Already registered? <Link to={`/login?next=${encodeURIComponent(next)}`}>Log in</Link>
      </p>
    </section>
  );
}
