// Users and roles: list the profiles, find one by CPF, and set an account's roles (the account
// sees them from its next token refresh).
import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { GRANTABLE_ROLES, type GrantableRole, type Profile } from "../../api/types";
import { useApi } from "../../app/services";
import { Empty, ErrorMessage, Loading, Notice, Pager, useTitle } from "../../components/ui";
import { humanize } from "../../format";
import { AdminNav } from "./AdminHomePage";

const PAGE_SIZE = 20;

export function AdminUsersPage() {
  useTitle("Users and roles");
  const api = useApi();
  const [page, setPage] = useState(1);
  const [cpf, setCpf] = useState("");
  const [nationalId, setNationalId] = useState("");
  const users = useQuery({
    queryKey: ["users", { page, nationalId }],
    queryFn: () => api.users.list({ page, size: PAGE_SIZE, national_id: nationalId || undefined }),
    placeholderData: keepPreviousData,
  });
  const onFind = (event: FormEvent) => {
    event.preventDefault();
    setNationalId(cpf.replace(/\D/g, ""));
    setPage(1);
  };
  return (
    <section>
      <AdminNav />
      <h1>Users and roles</h1>
      <form role="search" className="search-form" onSubmit={onFind}>
        <label htmlFor="find-cpf">Find by CPF</label>
        <input id="find-cpf" inputMode="numeric" value={cpf} onChange={(event) => setCpf(event.target.value)} />
        <button type="submit">Find</button>
        {nationalId && (
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setCpf("");
              setNationalId("");
            }}
          >
            Show all
          </button>
        )}
      </form>
      {users.isPending ? (
        <Loading />
      ) : users.isError ? (
        <ErrorMessage error={users.error} />
      ) : users.data.items.length === 0 ? (
        <Empty>{nationalId ? "No customer has this CPF." : "No users."}</Empty>
      ) : (
        <>
          <ul className="admin-list">
            {users.data.items.map((user) => (
              <UserRow key={user.user_id} user={user} />
            ))}
          </ul>
          <Pager page={users.data.page} size={users.data.size} total={users.data.total} onPage={setPage} />
        </>
      )}
    </section>
  );
}

function UserRow({ user }: { user: Profile }) {
  const api = useApi();
  const [roles, setRoles] = useState<GrantableRole[]>(["customer"]);
  const grant = useMutation({ mutationFn: () => api.auth.grantRoles(user.user_id, roles) });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    grant.mutate();
  };
  const label = user.full_name || user.email || user.user_id;
  return (
    <li className="card admin-row">
      <div className="admin-row-head">
        <strong>{label}</strong>
        <span className="muted">
          {user.email ?? "guest"} · {user.user_id}
        </span>
      </div>
      <form onSubmit={onSubmit} className="inline-form">
        <fieldset>
          <legend>Roles of {label}</legend>
          {GRANTABLE_ROLES.map((role) => (
            <span className="checkbox" key={role}>
              <input
                type="checkbox"
                id={`role-${user.user_id}-${role}`}
                checked={roles.includes(role)}
                onChange={(event) =>
                  setRoles(event.target.checked ? [...roles, role] : roles.filter((item) => item !== role))
                }
              />
              <label htmlFor={`role-${user.user_id}-${role}`}>{humanize(role)}</label>
            </span>
          ))}
        </fieldset>
        <button type="submit" disabled={grant.isPending}>
          Set roles<span className="visually-hidden"> of {label}</span>
        </button>
      </form>
      <ErrorMessage error={grant.error} title="Roles not changed." />
      {grant.isSuccess && (
        <Notice tone="success">Roles now: {(grant.data?.roles ?? roles).join(", ")} (from the next token refresh).</Notice>
      )}
    </li>
  );
}
