// The storefront: products by category, with search and paging; everything in the URL, so a
// search can be bookmarked and the back button works.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";

import type { Product } from "../api/types";
import { useApi } from "../app/services";
import { useCart } from "../cart/cart";
import { Empty, ErrorMessage, Loading, Pager, useTitle } from "../components/ui";
import { formatMoney } from "../format";

export const CATALOG_PAGE_SIZE = 12;

export function CatalogPage() {
  useTitle("Catalog");
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const category = params.get("category") ?? "";
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const [search, setSearch] = useState(q);

  const categories = useQuery({ queryKey: ["categories"], queryFn: () => api.categories.list() });
  const products = useQuery({
    queryKey: ["products", { q, category, page }],
    queryFn: () => api.products.list({ q, category, page, size: CATALOG_PAGE_SIZE }),
    placeholderData: keepPreviousData,
  });

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next);
  };
  const onSearch = (event: FormEvent) => {
    event.preventDefault();
    update({ q: search.trim() || null, page: null });
  };

  return (
    <section>
      <h1>Catalog</h1>
      <div className="catalog-tools">
        <form role="search" className="search-form" onSubmit={onSearch}>
          <label htmlFor="catalog-search">Search products</label>
          <input
            id="catalog-search"
            type="search"
            value={search}
            onChange={(event) => setSearch(event.target.value)}
          />
          <button type="submit">Search</button>
        </form>
        {categories.data && categories.data.length > 0 && (
          <nav aria-label="Categories" className="category-nav">
            <ul>
              <li>
                <button
                  type="button"
                  className="chip"
                  aria-pressed={category === ""}
                  onClick={() => update({ category: null, page: null })}
                >
                  All
                </button>
              </li>
              {categories.data.map((item) => (
                <li key={item.category_id}>
                  <button
                    type="button"
                    className="chip"
                    aria-pressed={category === item.slug}
                    onClick={() => update({ category: item.slug, page: null })}
                  >
                    {item.name}
                  </button>
                </li>
              ))}
            </ul>
          </nav>
        )}
      </div>
      {products.isPending ? (
        <Loading label="Loading products…" />
      ) : products.isError ? (
        <ErrorMessage error={products.error} />
      ) : products.data.items.length === 0 ? (
        <Empty>{q || category ? "No products match." : "The catalog is empty."}</Empty>
      ) : (
        <>
          <p className="result-count" aria-live="polite">
            {products.data.total} product{products.data.total === 1 ? "" : "s"}
          </p>
          <ul className="product-grid">
            {products.data.items.map((product) => (
              <ProductCard key={product.product_id} product={product} />
            ))}
          </ul>
          <Pager
            page={products.data.page}
            size={products.data.size}
            total={products.data.total}
            onPage={(next) => update({ page: String(next) })}
            label="Catalog pages"
          />
        </>
      )}
    </section>
  );
}

export function ProductCard({ product }: { product: Product }) {
  const cart = useCart();
  const [added, setAdded] = useState(false);
  const soldOut = product.stock_available <= 0;
  return (
    <li className="card product-card" data-testid="product-card">
      <h2 className="product-name">
        <Link to={`/products/${product.product_id}`}>{product.name}</Link>
      </h2>
      {product.description && <p className="product-description">{product.description}</p>}
      <p className="price">{formatMoney(product.price, product.currency)}</p>
      <p className="stock">{soldOut ? "Sold out" : `${product.stock_available} in stock`}</p>
      <button
        type="button"
        data-testid="add-to-cart"
        disabled={soldOut}
        onClick={() => {
          cart.add(product);
          setAdded(true);
        }}
      >
        Add to cart<span className="visually-hidden">: {product.name}</span>
      </button>
      <span className="added" role="status">
        {added ? "Added to cart" : ""}
      </span>
    </li>
  );
}
