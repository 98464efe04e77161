// Pages that need a session or a role. The API checks every call itself; these only spare a
// person a page full of 401s and 403s.
import type { ReactNode } from "react";
import { Link, Navigate, useLocation } from "react-router";

import { useSession } from "../app/services";

export function RequireSession({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session.user) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  return <>{children}</>;
}

export function RequireRole({ roles, children }: { roles: string[]; children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session.user) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  if (!session.hasRole(...roles)) {
    return (
      <section>
        <h1>Not allowed</h1>
        <p>
          This page is for {roles.join(" or ")} accounts. <Link to="/">Back to the catalog</Link>.
        </p>
      </section>
    );
  }
  return <>{children}</>;
}
