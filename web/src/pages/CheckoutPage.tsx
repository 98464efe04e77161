// Checkout: where to deliver, how to pay, and one click that places the order. The order's own
// page then follows it live.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";

import type { Address, NewOrder, PaymentMethod } from "../api/types";
import { useApi, useSession } from "../app/services";
import { useCart } from "../cart/cart";
import { Empty, ErrorMessage, TextField, useTitle } from "../components/ui";
import { formatMoney } from "../format";
import { randomId } from "../ids";
import { cartTotals } from "./CartPage";
import { ContinueAsGuest } from "./LoginPage";

const EMPTY_ADDRESS: Address = { street: "", number: "", city: "", state: "", country: "", zipcode: "" };

const ADDRESS_FIELDS: { key: keyof Address; label: string; autoComplete: string }[] = [
  { key: "street", label: "Street", autoComplete: "address-line1" },
  { key: "number", label: "Number", autoComplete: "address-line2" },
  { key: "city", label: "City", autoComplete: "address-level2" },
  { key: "state", label: "State", autoComplete: "address-level1" },
  { key: "zipcode", label: "Postal code", autoComplete: "postal-code" },
  { key: "country", label: "Country", autoComplete: "country-name" },
];

export function CheckoutPage() {
  useTitle("Checkout");
  const api = useApi();
  const session = useSession();
  const cart = useCart();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [address, setAddress] = useState<Address>(EMPTY_ADDRESS);
  const [touched, setTouched] = useState(false);
  const [method, setMethod] = useState<PaymentMethod>("card");

  // A saved address fills the form, unless the customer already started typing.
  const profile = useQuery({
    queryKey: ["me"],
    queryFn: () => api.users.me(),
    enabled: session.user !== null,
    retry: false,
  });
  const saved = profile.data?.addresses[0];
  useEffect(() => {
    if (saved && !touched) setAddress(saved);
  }, [saved, touched]);

  const order: NewOrder = useMemo(
    () => ({
      items: cart.lines.map((line) => ({ product_id: line.product_id, quantity: line.quantity })),
      delivery_address: address,
      payment_method: method,
    }),
    [cart.lines, address, method],
  );
  // One key per distinct order: a retry of the same order (a lost answer, a double click) can
  // never place it twice, and a changed order is a new one.
  const idempotencyKey = useMemo(() => randomId(), [order]);
  const place = useMutation({
    mutationFn: () => api.orders.place(order, idempotencyKey),
    onSuccess: (accepted) => {
      void queryClient.invalidateQueries({ queryKey: ["orders"] });
      cart.clear();
      navigate(`/orders/${accepted.order_id}`);
    },
  });

  if (cart.lines.length === 0 && !place.isSuccess) {
    return (
      <section>
        <h1>Checkout</h1>
        <Empty>
          Your cart is empty. <Link to="/">Browse the catalog</Link>.
        </Empty>
      </section>
    );
  }
  if (!session.user) {
    return (
      <section className="narrow">
        <h1>Checkout</h1>
        <p>
          <Link to="/login?next=%2Fcheckout">Log in</Link> or{" "}
          <Link to="/register?next=%2Fcheckout">register</Link> to order, or order as a guest.
        </p>
        <ContinueAsGuest next="/checkout" />
      </section>
    );
  }

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    place.mutate();
  };
  const setField = (key: keyof Address, value: string) => {
    setTouched(true);
    setAddress((current) => ({ ...current, [key]: value }));
  };

  return (
    <section>
      <h1>Checkout</h1>
      <form onSubmit={onSubmit} className="checkout-form">
        <ErrorMessage error={place.error} title="The order was not placed." />
        <fieldset>
          <legend>Delivery address</legend>
          <div className="address-grid">
            {ADDRESS_FIELDS.map((field) => (
              <TextField
                key={field.key}
                label={field.label}
                name={`delivery_address.${field.key}`}
                autoComplete={field.autoComplete}
                required
                value={address[field.key]}
                onChange={(event) => setField(field.key, event.target.value)}
                error={place.error}
              />
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Payment method</legend>
          <div className="radio">
            <input
              type="radio"
              id="payment-card"
              name="payment_method"
              value="card"
              checked={method === "card"}
              onChange={() => setMethod("card")}
              data-testid="payment-method-card"
            />
            <label htmlFor="payment-card">Card</label>
          </div>
          <div className="radio">
            <input
              type="radio"
              id="payment-pix"
              name="payment_method"
              value="pix"
              checked={method === "pix"}
              onChange={() => setMethod("pix")}
              data-testid="payment-method-pix"
            />
            <label htmlFor="payment-pix">Pix (QR code, pay in your bank app)</label>
          </div>
        </fieldset>
        <h2>Your order</h2>
        <ul className="summary">
          {cart.lines.map((line) => (
            <li key={line.product_id}>
              {line.quantity} × {line.name} <span className="price">{formatMoney(line.price, line.currency)}</span>
            </li>
          ))}
        </ul>
        <p className="total">
          Total:{" "}
          {cartTotals(cart.lines)
            .map((total) => formatMoney(total.amount, total.currency))
            .join(" + ")}
        </p>
        <button type="submit" data-testid="place-order" disabled={place.isPending}>
          {place.isPending ? "Placing the order…" : "Place order"}
        </button>
      </form>
    </section>
  );
}
