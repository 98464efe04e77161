// The cart: kept in this browser (localStorage), so it survives a reload and a log in.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

import type { Product } from "../api/types";

export interface CartLine {
  product_id: string;
  name: string;
  price: string;
  currency: string;
  quantity: number;
}

export const MAX_QUANTITY = 1000;
const STORAGE_KEY = "order-platform.cart";

interface Cart {
  lines: CartLine[];
  count: number;
  add: (product: Pick<Product, "product_id" | "name" | "price" | "currency">, quantity?: number) => void;
  setQuantity: (productId: string, quantity: number) => void;
  remove: (productId: string) => void;
  clear: () => void;
}

const CartContext = createContext<Cart | null>(null);

function load(): CartLine[] {
  try {
    const parsed: unknown = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (line): line is CartLine =>
        typeof line === "object" &&
        line !== null &&
        typeof line.product_id === "string" &&
        typeof line.quantity === "number" &&
        line.quantity >= 1,
    );
  } catch {
    return [];
  }
}

function clamp(quantity: number): number {
  return Math.max(1, Math.min(MAX_QUANTITY, Math.floor(quantity)));
}

export function CartProvider({ children }: { children: ReactNode }) {
  const [lines, setLines] = useState<CartLine[]>(load);
  useEffect(() => {
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(lines));
    } catch {
      // storage full or refused: the cart lasts until the page reloads
    }
  }, [lines]);

  const add = useCallback<Cart["add"]>((product, quantity = 1) => {
    setLines((current) => {
      const existing = current.find((line) => line.product_id === product.product_id);
      if (existing) {
        return current.map((line) =>
          line === existing ? { ...line, quantity: clamp(line.quantity + quantity) } : line,
        );
      }
      const { product_id, name, price, currency } = product;
      return [...current, { product_id, name, price, currency, quantity: clamp(quantity) }];
    });
  }, []);
  const setQuantity = useCallback((productId: string, quantity: number) => {
    setLines((current) =>
      current.map((line) =>
        line.product_id === productId ? { ...line, quantity: clamp(quantity) } : line,
      ),
    );
  }, []);
  const remove = useCallback((productId: string) => {
    setLines((current) => current.filter((line) => line.product_id !== productId));
  }, []);
  const clear = useCallback(() => setLines([]), []);

  const value = useMemo<Cart>(
    () => ({
      lines,
      count: lines.reduce((sum, line) => sum + line.quantity, 0),
      add,
      setQuantity,
      remove,
      clear,
    }),
    [lines, add, setQuantity, remove, clear],
  );
  return <CartContext.Provider value={value}>{children}</CartContext.Provider>;
}

export function useCart(): Cart {
  const cart = useContext(CartContext);
  if (!cart) throw new Error("useCart outside <CartProvider>");
  return cart;
}
