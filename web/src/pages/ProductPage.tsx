import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";

import { ApiError } from "../api/errors";
import { useApi } from "../app/services";
import { MAX_QUANTITY, useCart } from "../cart/cart";
import { ErrorMessage, Loading, Notice, useTitle } from "../components/ui";
import { formatMoney } from "../format";

export function ProductPage() {
  const { productId = "" } = useParams();
  const api = useApi();
  const cart = useCart();
  const [quantity, setQuantity] = useState(1);
  const [added, setAdded] = useState(0);
  const product = useQuery({
    queryKey: ["product", productId],
    queryFn: () => api.products.get(productId),
  });
  useTitle(product.data?.name ?? "Product");

  if (product.isPending) return <Loading label="Loading the product…" />;
  if (product.isError) {
    const gone = product.error instanceof ApiError && product.error.status === 404;
    return (
      <section>
        <h1>Product</h1>
        {gone ? <p>This product is not available.</p> : <ErrorMessage error={product.error} />}
        <p>
          <Link to="/">Back to the catalog</Link>
        </p>
      </section>
    );
  }
  const item = product.data;
  const soldOut = item.stock_available <= 0;
  const onAdd = (event: FormEvent) => {
    event.preventDefault();
    cart.add(item, quantity);
    setAdded(quantity);
  };
  return (
    <section className="product-page">
      <p>
        <Link to="/">← Catalog</Link>
      </p>
      <h1>{item.name}</h1>
      {item.description && <p>{item.description}</p>}
      <dl className="facts">
        <dt>Price</dt>
        <dd className="price">{formatMoney(item.price, item.currency)}</dd>
        <dt>Availability</dt>
        <dd>{soldOut ? "Sold out" : `${item.stock_available} in stock`}</dd>
        <dt>SKU</dt>
        <dd>{item.sku}</dd>
      </dl>
      <form className="inline-form" onSubmit={onAdd}>
        <label htmlFor="product-quantity">Quantity</label>
        <input
          id="product-quantity"
          type="number"
          min={1}
          max={Math.min(MAX_QUANTITY, Math.max(1, item.stock_available))}
          value={quantity}
          onChange={(event) => setQuantity(Math.max(1, Number(event.target.value) || 1))}
        />
        <button type="submit" data-testid="add-to-cart" disabled={soldOut}>
          Add to cart
        </button>
      </form>
      {added > 0 && (
        <Notice tone="success">
          Added {added} to your cart. <Link to="/cart">Go to the cart</Link>
        </Notice>
      )}
    </section>
  );
}
