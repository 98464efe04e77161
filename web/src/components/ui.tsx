// Small building blocks every page uses: fields with their API errors, messages, states, paging.
import { useEffect, useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

import { errorMessage, fieldErrorOf, problemsOfError } from "../api/errors";
import { humanize } from "../format";

/** Sets the document title for the page on screen. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Order platform`;
  }, [title]);
}

interface FieldFrame {
  label: string;
  /** The API's field path, e.g. "delivery_address.street": its 422 message shows here. */
  name: string;
  error?: unknown;
  hint?: string;
}

function FieldShell({
  label,
  id,
  message,
  hint,
  children,
}: {
  label: string;
  id: string;
  message: string | undefined;
  hint: string | undefined;
  children: ReactNode;
}) {
  return (
    <div className={message ? "field field-invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {message && (
        <p className="field-error" id={`${id}-error`}>
          {message}
        </p>
      )}
    </div>
  );
}

function describedBy(id: string, message: string | undefined, hint: string | undefined) {
  const ids = [hint ? `${id}-hint` : null, message ? `${id}-error` : null].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}

/** A labelled input; the API's message for `name` appears beside it. */
export function TextField({
  label,
  name,
  error,
  hint,
  ...input
}: FieldFrame & Omit<InputHTMLAttributes<HTMLInputElement>, "name">) {
  const id = useId();
  const message = fieldErrorOf(error, name);
  return (
    <FieldShell label={label} id={id} message={message} hint={hint}>
      <input
        id={id}
        name={name}
        aria-invalid={message ? true : undefined}
        aria-describedby={describedBy(id, message, hint)}
        {...input}
      />
    </FieldShell>
  );
}

export function TextArea({
  label,
  name,
  error,
  hint,
  ...input
}: FieldFrame & Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "name">) {
  const id = useId();
  const message = fieldErrorOf(error, name);
  return (
    <FieldShell label={label} id={id} message={message} hint={hint}>
      <textarea
        id={id}
        name={name}
        aria-invalid={message ? true : undefined}
        aria-describedby={describedBy(id, message, hint)}
        {...input}
      />
    </FieldShell>
  );
}

export function SelectField({
  label,
  name,
  error,
  hint,
  children,
  ...select
}: FieldFrame & Omit<SelectHTMLAttributes<HTMLSelectElement>, "name">) {
  const id = useId();
  const message = fieldErrorOf(error, name);
  return (
    <FieldShell label={label} id={id} message={message} hint={hint}>
      <select
        id={id}
        name={name}
        aria-invalid={message ? true : undefined}
        aria-describedby={describedBy(id, message, hint)}
        {...select}
      >
        {children}
      </select>
    </FieldShell>
  );
}

/**
 * The error of a failed call as the API gave it: its detail as the message and, for a 422,
 * every field problem listed (each is also shown beside its field).
 */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const problems = problemsOfError(error);
  return (
    <div className="message message-error" role="alert">
      {title && <strong>{title} </strong>}
      <span>{errorMessage(error)}</span>
      {problems.length > 0 && (
        <ul>
          {problems.map((problem, index) => (
            <li key={`${problem.field}-${index}`}>
              {problem.field ? `${humanize(problem.field.split(".").pop() ?? problem.field)}: ` : ""}
              {problem.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Notice({ children, tone = "info" }: { children: ReactNode; tone?: "info" | "success" }) {
  return (
    <div className={`message message-${tone}`} role="status">
      {children}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** Previous / next with "page X of Y"; pages start at 1 as in the API. */
export function Pager({
  page,
  size,
  total,
  onPage,
  label = "Pages",
}: {
  page: number;
  size: number;
  total: number;
  onPage: (page: number) => void;
  label?: string;
}) {
  const pages = Math.max(1, Math.ceil(total / size));
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" onClick={() => onPage(page - 1)} disabled={page <= 1}>
        Previous
      </button>
      <span>
        Page {page} of {pages}
      </span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page >= pages}>
        Next
      </button>
    </nav>
  );
}

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge badge-${status.toLowerCase()}`} data-testid={testId}>
      {status}
    </span>
  );
}
