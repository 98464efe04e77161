// The customer's profile: name, CPF (identifies the customer at the counter), phone and the
// channels notifications go to. Only what changed is sent.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router";

import { ApiError } from "../api/errors";
import type { NotificationChannel, Profile, ProfileUpdate } from "../api/types";
import { useApi, useSession } from "../app/services";
import { ErrorMessage, Loading, Notice, TextField, useTitle } from "../components/ui";

const CHANNELS: { value: NotificationChannel; label: string }[] = [
  { value: "email", label: "Email" },
  { value: "sms", label: "SMS" },
];

interface Draft {
  full_name: string;
  national_id: string;
  phone: string;
  notification_channels: NotificationChannel[];
}

function draftOf(profile: Profile): Draft {
  return {
    full_name: profile.full_name ?? "",
    national_id: profile.national_id ?? "",
    phone: profile.phone ?? "",
    notification_channels: profile.notification_channels ?? ["email"],
  };
}

/** The fields that differ from the profile, as PATCH /api/users/me takes them. */
export function profilePatch(profile: Profile, draft: Draft): ProfileUpdate {
  const before = draftOf(profile);
  const patch: ProfileUpdate = {};
  if (draft.full_name.trim() !== before.full_name) patch.full_name = draft.full_name.trim();
  if (draft.national_id.trim() !== before.national_id) patch.national_id = draft.national_id.trim();
  if (draft.phone.trim() !== before.phone) patch.phone = draft.phone.trim() || null;
  const channels = [...draft.notification_channels].sort();
  if (channels.join() !== [...before.notification_channels].sort().join()) {
    patch.notification_channels = channels;
  }
  return patch;
}

export function AccountPage() {
  useTitle("Account");
  const api = useApi();
  const session = useSession();
  const queryClient = useQueryClient();
  const profile = useQuery({ queryKey: ["me"], queryFn: () => api.users.me() });
  const [draft, setDraft] = useState<Draft | null>(null);
  useEffect(() => {
    if (profile.data && draft === null) setDraft(draftOf(profile.data));
  }, [profile.data, draft]);
  const save = useMutation({
    mutationFn: (patch: ProfileUpdate) => api.users.updateMe(patch),
    onSuccess: (updated) => {
      queryClient.setQueryData(["me"], updated);
      setDraft(draftOf(updated));
    },
  });

  const guestNote = session.user?.isGuest && (
    <Notice>
      You are a guest. <Link to="/register?next=%2Faccount">Register</Link> to keep your orders under an
      email and password.
    </Notice>
  );

  if (profile.isPending || (profile.isSuccess && draft === null)) {
    return <Loading label="Loading your profile…" />;
  }
  if (profile.isError) {
    const notYet = profile.error instanceof ApiError && profile.error.status === 404;
    return (
      <section className="narrow">
        <h1>Account</h1>
        {guestNote}
        {notYet ? (
          <p>Your profile is being created; it takes a moment after signing up.</p>
        ) : (
          <ErrorMessage error={profile.error} />
        )}
        <button type="button" onClick={() => profile.refetch()}>
          Try again
        </button>
      </section>
    );
  }
  if (draft === null) return null;

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate(profilePatch(profile.data, draft));
  };
  const toggleChannel = (channel: NotificationChannel, on: boolean) => {
    setDraft({
      ...draft,
      notification_channels: on
        ? [...new Set([...draft.notification_channels, channel])]
        : draft.notification_channels.filter((item) => item !== channel),
    });
  };

  return (
    <section className="narrow">
      <h1>Account</h1>
      {guestNote}
      {profile.data.email && <p>Signed in as {profile.data.email}.</p>}
      <form onSubmit={onSubmit} noValidate>
        <ErrorMessage error={save.error} title="Not saved." />
        {save.isSuccess && <Notice tone="success">Saved.</Notice>}
        <TextField
          label="Full name"
          name="full_name"
          autoComplete="name"
          value={draft.full_name}
          onChange={(event) => setDraft({ ...draft, full_name: event.target.value })}
          error={save.error}
        />
        <TextField
          label="CPF"
          name="national_id"
          inputMode="numeric"
          autoComplete="off"
          hint="11 digits; dots and dash are fine (000.000.000-00)."
          value={draft.national_id}
          onChange={(event) => setDraft({ ...draft, national_id: event.target.value })}
          error={save.error}
        />
        <TextField
          label="Mobile phone"
          name="phone"
          type="tel"
          autoComplete="tel"
          hint="International format, e.g. +5511987654321."
          value={draft.phone}
          onChange={(event) => setDraft({ ...draft, phone: event.target.value })}
          error={save.error}
        />
        <fieldset>
          <legend>Send my notifications by</legend>
          {CHANNELS.map((channel) => (
            <div className="checkbox" key={channel.value}>
              <input
                type="checkbox"
                id={`channel-${channel.value}`}
                checked={draft.notification_channels.includes(channel.value)}
                onChange={(event) => toggleChannel(channel.value, event.target.checked)}
              />
              <label htmlFor={`channel-${channel.value}`}>{channel.label}</label>
            </div>
          ))}
          {save.error instanceof ApiError && save.error.fieldError("notification_channels") && (
            <p className="field-error">{save.error.fieldError("notification_channels")}</p>
          )}
        </fieldset>
        <button type="submit" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save"}
        </button>
      </form>
    </section>
  );
}
