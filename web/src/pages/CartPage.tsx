import { Link, useNavigate } from "react-router";

import { useCart, MAX_QUANTITY, type CartLine } from "../cart/cart";
import { Empty, useTitle } from "../components/ui";
import { formatMoney, fromCents, toCents } from "../format";

/** Totals per currency (a cart may mix them; an order is charged in the products' currency). */
export function cartTotals(lines: CartLine[]): { currency: string; amount: string }[] {
  const cents = new Map<string, number>();
  for (const line of lines) {
    cents.set(line.currency, (cents.get(line.currency) ?? 0) + toCents(line.price) * line.quantity);
  }
  return [...cents].map(([currency, total]) => ({ currency, amount: fromCents(total) }));
}

export function CartPage() {
  useTitle("Cart");
  const cart = useCart();
  const navigate = useNavigate();
  if (cart.lines.length === 0) {
    return (
      <section>
        <h1>Cart</h1>
        <Empty>
          Your cart is empty. <Link to="/">Browse the catalog</Link>.
        </Empty>
      </section>
    );
  }
  return (
    <section>
      <h1>Cart</h1>
      <ul className="cart-lines">
        {cart.lines.map((line) => (
          <li key={line.product_id} className="cart-line">
            <Link to={`/products/${line.product_id}`} className="cart-line-name">
              {line.name}
            </Link>
            <span className="price">{formatMoney(line.price, line.currency)}</span>
            <label className="visually-hidden" htmlFor={`quantity-${line.product_id}`}>
              Quantity of {line.name}
            </label>
            <input
              id={`quantity-${line.product_id}`}
              type="number"
              min={1}
              max={MAX_QUANTITY}
              value={line.quantity}
              onChange={(event) => cart.setQuantity(line.product_id, Number(event.target.value) || 1)}
            />
            <button type="button" className="secondary" onClick={() => cart.remove(line.product_id)}>
              Remove<span className="visually-hidden"> {line.name}</span>
            </button>
          </li>
        ))}
      </ul>
      <p className="total">
        Total:{" "}
        {cartTotals(cart.lines)
          .map((total) => formatMoney(total.amount, total.currency))
          .join(" + ")}
      </p>
      <div className="actions">
        <button type="button" data-testid="checkout" onClick={() => navigate("/checkout")}>
          Checkout
        </button>
        <button type="button" className="secondary" onClick={cart.clear}>
          Empty the cart
        </button>
      </div>
    </section>
  );
}
