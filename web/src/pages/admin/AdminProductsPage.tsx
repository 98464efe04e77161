// Products: create, edit (name, description, price, stock, category) and archive.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import type { Category, Product, ProductCreate, ProductUpdate } from "../../api/types";
import { useApi } from "../../app/services";
import {
  Empty,
  ErrorMessage,
  Loading,
  Notice,
  Pager,
  SelectField,
  TextArea,
  TextField,
  useTitle,
} from "../../components/ui";
import { formatMoney } from "../../format";
import { AdminNav } from "./AdminHomePage";

const PAGE_SIZE = 20;

function CategoryOptions({ categories }: { categories: Category[] | undefined }) {
  return (
    <>
      <option value="">No category</option>
      {(categories ?? []).map((category) => (
        <option key={category.category_id} value={category.category_id}>
          {category.name}
        </option>
      ))}
    </>
  );
}

export function AdminProductsPage() {
  useTitle("Products");
  const api = useApi();
  const [page, setPage] = useState(1);
  const [q, setQ] = useState("");
  const [search, setSearch] = useState("");
  const categories = useQuery({ queryKey: ["categories"], queryFn: () => api.categories.list() });
  const products = useQuery({
    queryKey: ["products", { q, page, size: PAGE_SIZE }],
    queryFn: () => api.products.list({ q, page, size: PAGE_SIZE }),
    placeholderData: keepPreviousData,
  });
  const onSearch = (event: FormEvent) => {
    event.preventDefault();
    setQ(search.trim());
    setPage(1);
  };
  return (
    <section>
      <AdminNav />
      <h1>Products</h1>
      <CreateProduct categories={categories.data} />
      <h2>Catalog</h2>
      <form role="search" className="search-form" onSubmit={onSearch}>
        <label htmlFor="admin-product-search">Search products</label>
        <input id="admin-product-search" type="search" value={search} onChange={(event) => setSearch(event.target.value)} />
        <button type="submit">Search</button>
      </form>
      {products.isPending ? (
        <Loading label="Loading products…" />
      ) : products.isError ? (
        <ErrorMessage error={products.error} />
      ) : products.data.items.length === 0 ? (
        <Empty>No products.</Empty>
      ) : (
        <>
          <ul className="admin-list">
            {products.data.items.map((product) => (
              <ProductRow key={product.product_id} product={product} categories={categories.data} />
            ))}
          </ul>
          <Pager page={products.data.page} size={products.data.size} total={products.data.total} onPage={setPage} />
        </>
      )}
    </section>
  );
}

const EMPTY_PRODUCT = { sku: "", name: "", description: "", price: "", currency: "EUR", stock: "0", category_id: "" };

function CreateProduct({ categories }: { categories: Category[] | undefined }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [form, setForm] = useState(EMPTY_PRODUCT);
  const create = useMutation({
    mutationFn: () => {
      const body: ProductCreate = {
        sku: form.sku.trim(),
        name: form.name.trim(),
        description: form.description.trim() || null,
        price: form.price.trim(),
        currency: form.currency.trim().toUpperCase(),
        stock: Number(form.stock),
      };
      if (form.category_id) body.category_id = form.category_id;
      return api.products.create(body);
    },
    onSuccess: () => {
      setForm(EMPTY_PRODUCT);
      void queryClient.invalidateQueries({ queryKey: ["products"] });
    },
  });
  const set = (key: keyof typeof EMPTY_PRODUCT) => (event: { target: { value: string } }) =>
    setForm({ ...form, [key]: event.target.value });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={onSubmit} className="card admin-form" aria-labelledby="new-product">
      <h2 id="new-product">New product</h2>
      <ErrorMessage error={create.error} title="Not created." />
      {create.isSuccess && <Notice tone="success">Created {create.data.name}.</Notice>}
      <div className="form-grid">
        <TextField label="SKU" name="sku" required value={form.sku} onChange={set("sku")} error={create.error} />
        <TextField label="Name" name="name" required value={form.name} onChange={set("name")} error={create.error} />
        <TextField label="Price" name="price" required inputMode="decimal" hint='e.g. "19.99"' value={form.price} onChange={set("price")} error={create.error} />
        <TextField label="Currency" name="currency" required maxLength={3} value={form.currency} onChange={set("currency")} error={create.error} />
        <TextField label="Stock" name="stock" type="number" min={0} required value={form.stock} onChange={set("stock")} error={create.error} />
        <SelectField label="Category" name="category_id" value={form.category_id} onChange={set("category_id")} error={create.error}>
          <CategoryOptions categories={categories} />
        </SelectField>
      </div>
      <TextArea label="Description" name="description" rows={2} value={form.description} onChange={set("description")} error={create.error} />
      <button type="submit" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create product"}
      </button>
    </form>
  );
}

function ProductRow({ product, categories }: { product: Product; categories: Category[] | undefined }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [form, setForm] = useState({
    name: product.name,
    description: product.description ?? "",
    price: product.price,
    stock: String(product.stock_available),
    category_id: product.category_id ?? "",
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["products"] });
  const update = useMutation({
    mutationFn: () => {
      const patch: ProductUpdate = {};
      if (form.name.trim() !== product.name) patch.name = form.name.trim();
      if (form.description.trim() !== (product.description ?? "")) patch.description = form.description.trim() || null;
      if (form.price.trim() !== product.price) patch.price = form.price.trim();
      if (Number(form.stock) !== product.stock_available) patch.stock = Number(form.stock);
      if (form.category_id !== (product.category_id ?? "")) patch.category_id = form.category_id || null;
      return api.products.update(product.product_id, patch);
    },
    onSuccess: () => {
      setEditing(false);
      void refresh();
    },
  });
  const archive = useMutation({
    mutationFn: () => api.products.archive(product.product_id),
    onSuccess: () => void refresh(),
  });
  const category = categories?.find((item) => item.category_id === product.category_id);
  const set = (key: keyof typeof form) => (event: { target: { value: string } }) =>
    setForm({ ...form, [key]: event.target.value });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    update.mutate();
  };
  return (
    <li className="card admin-row" data-testid="admin-product">
      <div className="admin-row-head">
        <strong>{product.name}</strong>
        <span className="muted">
          {product.sku} · {formatMoney(product.price, product.currency)} · {product.stock_available} in stock
          {category ? ` · ${category.name}` : ""}
        </span>
      </div>
      {!editing ? (
        <div className="actions">
          <button type="button" className="secondary" onClick={() => setEditing(true)}>
            Edit<span className="visually-hidden"> {product.name}</span>
          </button>
          {confirming ? (
            <>
              <button type="button" className="danger" onClick={() => archive.mutate()} disabled={archive.isPending}>
                Confirm archive<span className="visually-hidden"> of {product.name}</span>
              </button>
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" className="secondary" onClick={() => setConfirming(true)}>
              Archive<span className="visually-hidden"> {product.name}</span>
            </button>
          )}
        </div>
      ) : (
        <form onSubmit={onSubmit} aria-label={`Edit ${product.name}`}>
          <ErrorMessage error={update.error} title="Not saved." />
          <div className="form-grid">
            <TextField label="Name" name="name" required value={form.name} onChange={set("name")} error={update.error} />
            <TextField label="Price" name="price" required inputMode="decimal" value={form.price} onChange={set("price")} error={update.error} />
            <TextField
              label="Stock available"
              name="stock"
              type="number"
              min={0}
              hint="Units available for new orders; reserved and sold units are not affected."
              value={form.stock}
              onChange={set("stock")}
              error={update.error}
            />
            <SelectField label="Category" name="category_id" value={form.category_id} onChange={set("category_id")} error={update.error}>
              <CategoryOptions categories={categories} />
            </SelectField>
          </div>
          <TextArea label="Description" name="description" rows={2} value={form.description} onChange={set("description")} error={update.error} />
          <div className="actions">
            <button type="submit" disabled={update.isPending}>
              Save
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ErrorMessage error={archive.error} title="Not archived." />
    </li>
  );
}
