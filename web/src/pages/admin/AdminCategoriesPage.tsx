// Categories: create (slug derived by the API when left empty), rename, describe, delete.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import type { Category, CategoryInput } from "../../api/types";
import { useApi } from "../../app/services";
import { Empty, ErrorMessage, Loading, Notice, TextField, useTitle } from "../../components/ui";
import { AdminNav } from "./AdminHomePage";

export function AdminCategoriesPage() {
  useTitle("Categories");
  const api = useApi();
  const queryClient = useQueryClient();
  const categories = useQuery({ queryKey: ["categories"], queryFn: () => api.categories.list() });
  const [form, setForm] = useState({ name: "", slug: "", description: "" });
  const create = useMutation({
    mutationFn: () => {
      const body: CategoryInput = { name: form.name.trim() };
      if (form.slug.trim()) body.slug = form.slug.trim();
      if (form.description.trim()) body.description = form.description.trim();
      return api.categories.create(body);
    },
    onSuccess: () => {
      setForm({ name: "", slug: "", description: "" });
      void queryClient.invalidateQueries({ queryKey: ["categories"] });
    },
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <section>
      <AdminNav />
      <h1>Categories</h1>
      <form onSubmit={onSubmit} className="card admin-form" aria-labelledby="new-category">
        <h2 id="new-category">New category</h2>
        <ErrorMessage error={create.error} title="Not created." />
        {create.isSuccess && <Notice tone="success">Created {create.data.name}.</Notice>}
        <div className="form-grid">
          <TextField label="Name" name="name" required value={form.name} onChange={(event) => setForm({ ...form, name: event.target.value })} error={create.error} />
          <TextField
            label="Slug"
            name="slug"
            hint="Optional: made from the name when empty."
            value={form.slug}
            onChange={(event) => setForm({ ...form, slug: event.target.value })}
            error={create.error}
          />
          <TextField label="Description" name="description" value={form.description} onChange={(event) => setForm({ ...form, description: event.target.value })} error={create.error} />
        </div>
        <button type="submit" disabled={create.isPending}>
          Create category
        </button>
      </form>
      <h2>All categories</h2>
      {categories.isPending ? (
        <Loading />
      ) : categories.isError ? (
        <ErrorMessage error={categories.error} />
      ) : categories.data.length === 0 ? (
        <Empty>No categories yet.</Empty>
      ) : (
        <ul className="admin-list">
          {categories.data.map((category) => (
            <CategoryRow key={category.category_id} category={category} />
          ))}
        </ul>
      )}
    </section>
  );
}

function CategoryRow({ category }: { category: Category }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [form, setForm] = useState({ name: category.name, description: category.description ?? "" });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["categories"] });
  const update = useMutation({
    mutationFn: () => api.categories.update(category.category_id, { name: form.name.trim(), description: form.description.trim() || null }),
    onSuccess: () => {
      setEditing(false);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: () => api.categories.remove(category.category_id),
    onSuccess: () => void refresh(),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    update.mutate();
  };
  return (
    <li className="card admin-row">
      <div className="admin-row-head">
        <strong>{category.name}</strong>
        <span className="muted">
          /{category.slug}
          {category.description ? ` · ${category.description}` : ""}
        </span>
      </div>
      {editing ? (
        <form onSubmit={onSubmit} aria-label={`Edit ${category.name}`}>
          <ErrorMessage error={update.error} title="Not saved." />
          <div className="form-grid">
            <TextField label="Name" name="name" required value={form.name} onChange={(event) => setForm({ ...form, name: event.target.value })} error={update.error} />
            <TextField label="Description" name="description" value={form.description} onChange={(event) => setForm({ ...form, description: event.target.value })} error={update.error} />
          </div>
          <div className="actions">
            <button type="submit" disabled={update.isPending}>
              Save
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="actions">
          <button type="button" className="secondary" onClick={() => setEditing(true)}>
            Edit<span className="visually-hidden"> {category.name}</span>
          </button>
          <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
            Delete<span className="visually-hidden"> {category.name}</span>
          </button>
        </div>
      )}
      <ErrorMessage error={remove.error} title="Not deleted." />
    </li>
  );
}
